/**
 * What every page module of the people's pages (`/account`, `/review`) is
 * handed: the contract between the shell (./index.ts: sign-in through
 * Gatehouse itself, the session guard, the layout) and its sections
 * (./pages/). A section adds its routes to the site's router (no prefix:
 * sections use full paths under `/account` or `/review`, each behind the
 * signed-in guard) and renders `views/account/<name>.njk` through `page`,
 * which fills in what the layout needs: the person, the CSRF value, the
 * active section, `base`.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';

/** The signed-in person of this request (`ctx.state.person`, set by the guard). */
export interface Person {
  userId: string;
  email: string | null;
  name: string | null;
  /** The audit log's name for them: `user:<id>`. */
  actor: string;
}

/**
 * Renders `views/account/<name>.njk` as the answer. `section` marks the
 * active navigation entry (apps, browse, requests, security, review).
 */
export type PersonPage = (ctx: Context, name: string, section: string, vars?: Record<string, unknown>, status?: number) => void;

export interface SiteDeps {
  gh: Gatehouse;
  provider: Provider;
  page: PersonPage;
  /** Body parser + CSRF check: put in front of every POST route. */
  form: Middleware[];
}

export type SiteSection = (router: Router, deps: SiteDeps) => void;

/** The person of a request behind the guard. */
export function personOf(ctx: Context): Person {
  return ctx.state.person as Person;
}

/** The people's-pages session of a request behind the guard: its stored id and the Gatehouse sign-in it came from. */
export interface PersonSession {
  id: string;
  oidcSessionUid: string | null;
  /** When the person last proved who they are in this session (ms, injected clock), or null (./pages/reauth.ts). */
  reauthenticatedAt: number | null;
}

/** The session of a request behind the guard (`ctx.state.personSession`). */
export function sessionOf(ctx: Context): PersonSession {
  return ctx.state.personSession as PersonSession;
}

/**
 * Shows `message` in the status box of the next people's page this browser
 * gets: for a POST that redirects (303) to the page showing the result.
 */
export function flashNotice(ctx: Context, message: string): void {
  (ctx.state.accountNotice as ((message: string) => void) | undefined)?.(message);
}

/** A moment (ms) as the people's pages show it: `2026-12-01 10:20 UTC`; `none` for null. */
export function dateText(ms: number | null | undefined, none = ''): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return none;
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
