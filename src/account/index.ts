/**
 * The people's pages' shell at `/account` and `/review` (SPEC 9, issue 13):
 * sign-in through Gatehouse itself (the built-in `gatehouse-account` client,
 * authorization code + PKCE, redeemed in process: oidc/console-client.ts),
 * account sessions (./session.ts), the guard in front of every page, the
 * layout (`views/account/layout.njk`), and the sections of ./pages/, each
 * handed what ./site.ts promises.
 *
 * Anyone with an active account may sign in: no invitation is needed to see
 * one's own account. A disabled (or deleted) user loses the session at the
 * next request.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';
import { GatehouseError } from '../errors.ts';
import { csrf } from '../http/middleware/csrf.ts';
import { viewsDir } from '../http/views.ts';
import { constantTimeEqual } from '../lib/secrets.ts';
import { accountBuiltIn, builtInAuthorizationUrl, redeemBuiltInCode } from '../oidc/console-client.ts';
import { navigation, sections } from './pages/index.ts';
import { reauthWindowMs } from './pages/reauth.ts';
import { AccountSessions } from './session.ts';
import type { Person, PersonPage, PersonSession, SiteDeps } from './site.ts';

export const accountPrefix = '/account';
export const reviewPrefix = '/review';

const stylesheet = readFileSync(path.join(viewsDir, 'static', 'account.css'), 'utf8');

/** Paths a signed-out browser may reach (the sign-in routes and the pages' stylesheet). */
export const publicPaths: ReadonlySet<string> = new Set(['/account/login', '/account/callback', '/account/logout', '/account/static/account.css']);

const noticeCookie = 'gh.account.notice';

export interface AccountRouteDeps {
  gh: Gatehouse;
  /** Gatehouse's own issuer's provider (the people's pages are never at the realm). */
  provider: Provider;
}

/**
 * Where to land after signing in: a path below `/account` or `/review`
 * (query kept), never another site (`//host`, `/\host`) nor the sign-in
 * routes themselves.
 */
export function landingPath(wanted: unknown): string {
  if (typeof wanted !== 'string' || wanted.length > 2000) return accountPrefix;
  // URL characters only (no spaces, backslashes or control characters), no `//` anywhere.
  if (!/^\/(?:account|review)(?:[/?]|$)/.test(wanted) || !/^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/.test(wanted) || wanted.includes('//')) return accountPrefix;
  if (publicPaths.has(wanted.split('?')[0]!)) return accountPrefix;
  return wanted;
}

/** Whether the person may see `/review`: an approver of some client (static or registered), or an admin. */
export async function mayReview(gh: Gatehouse, email: string | null, emailVerified: boolean): Promise<boolean> {
  // The same scope /review shows (approvers by client, the receiver's fallback, admins): only a verified address counts.
  if (!email || !emailVerified) return false;
  const scope = await gh.joinRequests.reviewScope(email);
  return scope.admin || scope.clients.length > 0;
}

export function accountRoutes(deps: AccountRouteDeps): Router {
  const { gh, provider } = deps;
  const { issuer } = gh.config;
  const base = new URL(issuer).pathname.replace(/\/$/, '');
  const secure = issuer.startsWith('https:');
  const cookiePath = base || '/';
  const sessions = new AccountSessions(gh, secure, cookiePath);
  const csrfCheck = csrf(secure, cookiePath);
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });
  const noticeOptions = { httpOnly: true, sameSite: 'lax' as const, secure, path: cookiePath, signed: true, overwrite: true };

  const page: PersonPage = (ctx, name, section, vars = {}, status = 200) => {
    let notice = vars.notice;
    const flashed = ctx.cookies.get(noticeCookie, { signed: true });
    if (flashed) {
      ctx.cookies.set(noticeCookie, null, noticeOptions);
      notice ??= Buffer.from(flashed, 'base64url').toString('utf8');
    }
    const person = ctx.state.person as Person | undefined;
    const canReview = ctx.state.personCanReview === true;
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = gh.views.account(name, {
      ...vars,
      base,
      csrf: ctx.state.csrf,
      person,
      section,
      navigation: person ? navigation.filter((item) => item.section !== 'review' || canReview) : [],
      ...(notice ? { notice } : {}),
    });
  };

  const form: Middleware[] = [parseForm, csrfCheck];

  const router = new Router();

  router.get('/account/static/account.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  router.get('/account/login', async (ctx) => {
    const next = landingPath(ctx.query.next);
    ctx.set('Cache-Control', 'no-store');
    // Already signed in (and still active): straight on.
    // `?fresh=1`: sign in again even when signed in (the re-authentication page, ./pages/reauth.ts).
    const fresh = ctx.query.fresh === '1';
    const session = await sessions.current(ctx);
    if (!fresh && session && (await gh.users.find(session.userId))?.status === 'active') {
      ctx.redirect(`${base}${next}`);
      return;
    }
    const login = sessions.beginLogin(ctx, next);
    ctx.redirect(builtInAuthorizationUrl(provider, issuer, accountBuiltIn, login, fresh ? { prompt: 'login' } : {}));
  });

  router.get('/account/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const login = sessions.finishLogin(ctx);
    const restart = 'Go to your account page and sign in again.';
    if (!login) throw new GatehouseError('input.invalid', `This sign-in has expired or was started in another browser. ${restart}`);
    const { code, state, error, iss } = ctx.query;
    if (typeof state !== 'string' || !constantTimeEqual(state, login.state)) {
      throw new GatehouseError('input.invalid', `This sign-in does not match the one this browser started. ${restart}`);
    }
    if (typeof iss === 'string' && iss !== issuer) throw new GatehouseError('input.invalid', `This answer comes from another issuer. ${restart}`);
    if (typeof error === 'string') throw new GatehouseError('input.invalid', `The sign-in was not completed (${error}). ${restart}`);
    if (typeof code !== 'string' || !code) throw new GatehouseError('input.invalid', `The sign-in answer carries no code. ${restart}`);
    const { accountId, sessionUid, authenticatedBeforeSeconds } = await redeemBuiltInCode(provider, issuer, accountBuiltIn, code, login.verifier);
    const user = await gh.users.find(accountId);
    if (!user || user.status !== 'active') throw new GatehouseError('forbidden', 'This account is disabled. Ask an administrator to enable it again.');
    // A session this browser had before (another person's, perhaps) ends: one sign-in, one session.
    await sessions.end(ctx);
    // A sign-in that asked who the person is moments ago is a proof for adding or removing factors (./pages/reauth.ts).
    const now = gh.clock.now();
    const proved =
      authenticatedBeforeSeconds !== undefined && authenticatedBeforeSeconds * 1000 < reauthWindowMs ? now - authenticatedBeforeSeconds * 1000 : null;
    await sessions.start(ctx, accountId, sessionUid, proved);
    ctx.redirect(`${base}${login.next}`);
  });

  router.post('/account/logout', parseForm, csrfCheck, async (ctx) => {
    await sessions.end(ctx);
    // Gatehouse's own session ends too (oidc-provider asks "Sign out?" and says when it is done).
    const end = new URL(provider.urlFor('end_session'));
    end.searchParams.set('client_id', accountBuiltIn.clientId);
    ctx.status = 303;
    ctx.redirect(end.href);
  });

  // The guard: every other path below /account and /review. Routes with literal first segments, not
  // `router.use` (ownRoutes keeps its fast first-segment lookup); `/account/` matches both patterns, so
  // a request already let in passes straight on.
  const guard = async (ctx: Context, next: Next) => {
    if (ctx.state.person || publicPaths.has(ctx.path)) return next();
    // GET pages carry the CSRF value for their forms (POST routes check it through `form`).
    if (['GET', 'HEAD', 'OPTIONS'].includes(ctx.method)) await csrfCheck(ctx, async () => {});
    ctx.set('Cache-Control', 'no-store');
    const signIn = () => {
      const wanted = ctx.method === 'GET' ? landingPath(`${ctx.path}${ctx.search}`) : accountPrefix;
      ctx.redirect(`${base}${accountPrefix}/login${wanted === accountPrefix ? '' : `?next=${encodeURIComponent(wanted)}`}`);
    };
    const session = await sessions.current(ctx);
    if (!session) return signIn();
    const user = await gh.users.find(session.userId);
    if (!user || user.status !== 'active') {
      // Disabled (or deleted) since: the session ends now; signing in again is refused by Gatehouse's login.
      await sessions.end(ctx);
      return signIn();
    }
    ctx.state.person = { userId: user.id, email: user.email, name: user.name, actor: `user:${user.id}` } satisfies Person;
    ctx.state.personSession = { id: session.id, oidcSessionUid: session.oidcSessionUid, reauthenticatedAt: session.reauthenticatedAt } satisfies PersonSession;
    ctx.state.personCanReview = await mayReview(gh, user.email, user.email_verified);
    ctx.state.accountNotice = (message: string) =>
      ctx.cookies.set(noticeCookie, Buffer.from(message.slice(0, 500)).toString('base64url'), { ...noticeOptions, maxAge: 60_000 });
    await next();
  };
  for (const prefix of [accountPrefix, reviewPrefix]) {
    router.all(prefix, guard);
    router.all(`${prefix}/{*rest}`, guard);
  }

  const sectionDeps: SiteDeps = { gh, provider, page, form };
  for (const section of sections) section(router, sectionDeps);

  // Anything else below /account or /review: a not-found page inside the site (signed in; the guard ran first).
  const notFound = async (ctx: Context) => page(ctx, 'not-found', '', {}, 404);
  for (const prefix of [accountPrefix, reviewPrefix]) {
    router.all(prefix, notFound);
    router.all(`${prefix}/{*rest}`, notFound);
  }
  return router;
}
