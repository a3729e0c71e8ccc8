/**
 * What every console page module is handed (the contract between the
 * console's shell, ./index.ts, and its sections, ./pages/). A section adds
 * its routes to the console's router (prefix `/admin`, every route behind
 * the admin session guard) and renders `views/admin/<name>.njk` through
 * `page`, which fills in what the layout needs: the admin, the CSRF value,
 * the active section, `base`.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../../context.ts';
import { isGatehouseError } from '../../errors.ts';

/** The signed-in admin of this request (`ctx.state.admin`, set by the session guard). */
export interface ConsoleAdmin {
  userId: string;
  email: string;
  /** The audit log's name for them: `admin:<email>`. */
  actor: string;
}

/**
 * Renders `views/admin/<name>.njk` as the answer. `section` marks the active
 * navigation entry (dashboard, requests, invitations, users, clients,
 * registration-tokens, device-tokens, devices, audit, keys).
 */
export type AdminPage = (ctx: Context, name: string, section: string, vars?: Record<string, unknown>, status?: number) => void;

export interface ConsoleDeps {
  gh: Gatehouse;
  provider: Provider;
  page: AdminPage;
  /** Body parser + CSRF check: put in front of every POST route. */
  form: Middleware[];
}

export type ConsoleSection = (router: Router, deps: ConsoleDeps) => void;

/** The admin of a request behind the guard. */
export function adminOf(ctx: Context): ConsoleAdmin {
  return ctx.state.admin as ConsoleAdmin;
}

/**
 * Shows `message` in the status box of the next console page this browser
 * gets: for a POST that redirects (303) to the page showing the result.
 */
export function flashNotice(ctx: Context, message: string): void {
  (ctx.state.consoleNotice as ((message: string) => void) | undefined)?.(message);
}

/** Answers a form POST with 303 to the page that shows its result. */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

/** Refusals a console change tells on the page the admin lands on (anything else is an error page). */
const toldRefusals = new Set(['not_found', 'forbidden', 'input.invalid']);

/**
 * Runs a change from a form: on success `done` is shown at `location`; a
 * refusal (unknown id, not allowed, bad input) is shown at `failed`.
 */
export async function runChange(ctx: Context, run: () => Promise<unknown>, done: string, location: string, failed = location): Promise<void> {
  try {
    await run();
    flashNotice(ctx, done);
    seeOther(ctx, location);
  } catch (err) {
    if (!isGatehouseError(err) || !toldRefusals.has(err.code)) throw err;
    flashNotice(ctx, err.message);
    seeOther(ctx, failed);
  }
}

/** The thing `load` finds, or the console's not-found page (404) and undefined when the id is unknown or malformed. */
export async function loadOrNotFound<T>(ctx: Context, page: AdminPage, section: string, load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (err) {
    if (isGatehouseError(err, 'not_found') || isGatehouseError(err, 'input.invalid')) {
      page(ctx, 'not-found', section, {}, 404);
      return undefined;
    }
    throw err;
  }
}
