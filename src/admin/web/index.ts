/**
 * The admin console's shell at `/admin` (SPEC 9): sign-in through Gatehouse
 * itself (the built-in `gatehouse-admin` client, authorization code + PKCE,
 * redeemed in process: oidc/console-client.ts), console sessions
 * (./session.ts), the guard in front of every page, and the sections of
 * ./pages/, each handed what ./console.ts promises.
 *
 * Every page behind the guard is for an admin (an `admins:` e-mail, verified,
 * active: checked at every request). Nobody else gets a session: they get a
 * plain 403 page.
 *
 * The audit log records each console sign-in (`admin.signed_in`, actor
 * `admin:<email>`, subject the user id), each sign-out (`admin.signed_out`),
 * and each refusal of someone who is not (or no longer) an admin
 * (`admin.refused`, actor `user:<id>`, subject their user id, their e-mail and
 * the reason in the details).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../../context.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { csrf } from '../../http/middleware/csrf.ts';
import { viewsDir } from '../../http/views.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import { constantTimeEqual } from '../../lib/secrets.ts';
import { consoleClientId, consoleRedirectUri, consoleScope, pkceChallenge, redeemConsoleCode } from '../../oidc/console-client.ts';
import { adminAccount } from '../api/auth.ts';
import { adminApiPrefix } from '../api/index.ts';
import type { AdminPage, ConsoleAdmin, ConsoleDeps } from './console.ts';
import { navigation, sections } from './pages/index.ts';
import { ConsoleSessions } from './session.ts';

export const consolePrefix = '/admin';

const script = readFileSync(path.join(viewsDir, 'static', 'admin.js'), 'utf8');
const stylesheet = readFileSync(path.join(viewsDir, 'static', 'admin.css'), 'utf8');

/** Paths below the prefix a signed-out browser may reach (the sign-in routes and the console's two assets). */
export const publicPaths: ReadonlySet<string> = new Set(['/login', '/callback', '/logout', '/static/admin.js', '/static/admin.css']);

const noticeCookie = 'gh.admin.notice';

export interface ConsoleRouteDeps {
  gh: Gatehouse;
  /** Gatehouse's own issuer's provider (the console is never at the realm). */
  provider: Provider;
  /** Console POSTs per admin (security.rateLimits.admin). */
  limiter: Limiter;
}

/**
 * Where to land after signing in: a path below `/admin` (query kept), never
 * another site (`//host`, `/\host`) nor the sign-in routes themselves.
 */
export function landingPath(wanted: unknown): string {
  if (typeof wanted !== 'string' || wanted.length > 2000) return consolePrefix;
  // URL characters only (no spaces, backslashes or control characters), no `//` anywhere.
  if (!/^\/admin(?:[/?]|$)/.test(wanted) || !/^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/.test(wanted) || wanted.includes('//')) return consolePrefix;
  const pathOnly = wanted.split('?')[0]!;
  if (pathOnly.startsWith(adminApiPrefix) || publicPaths.has(pathOnly.slice(consolePrefix.length))) return consolePrefix;
  return wanted;
}

export function consoleRoutes(deps: ConsoleRouteDeps): Router {
  const { gh, provider, limiter } = deps;
  const { issuer } = gh.config;
  const base = new URL(issuer).pathname.replace(/\/$/, '');
  const secure = issuer.startsWith('https:');
  const cookiePath = `${base}${consolePrefix}`;
  const sessions = new ConsoleSessions(gh, secure, cookiePath);
  const csrfCheck = csrf(secure, base || '/');
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });
  const noticeOptions = { httpOnly: true, sameSite: 'lax' as const, secure, path: cookiePath, signed: true, overwrite: true };

  const page: AdminPage = (ctx, name, section, vars = {}, status = 200) => {
    let notice = vars.notice;
    const flashed = ctx.cookies.get(noticeCookie, { signed: true });
    if (flashed) {
      ctx.cookies.set(noticeCookie, null, noticeOptions);
      notice ??= Buffer.from(flashed, 'base64url').toString('utf8');
    }
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = gh.views.admin(name, {
      ...vars,
      base,
      csrf: ctx.state.csrf,
      admin: (ctx.state.admin as ConsoleAdmin | undefined)?.email,
      section,
      navigation,
      ...(notice ? { notice } : {}),
    });
  };

  const perAdmin: Middleware = async (ctx, next) => {
    const admin = ctx.state.admin as ConsoleAdmin | undefined;
    const counted = admin && (await limiter.hit(admin.actor));
    if (counted && !counted.allowed) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(counted.retryAfterMs / 1000))));
      throw new GatehouseError('rate_limited', 'Too many changes in a short time; wait a moment and try again.');
    }
    await next();
  };
  const form: Middleware[] = [parseForm, csrfCheck, perAdmin];

  const forbidden = (ctx: Context, message: string) => page(ctx, 'forbidden', '', { message }, 403);

  /** Someone who is not (or no longer) an admin was turned away: who (`user:<id>`, their e-mail in the details), why, and when (`sign-in` or `session`). */
  const auditRefused = async (userId: string, reason: string, during: 'sign-in' | 'session') => {
    const email = (await gh.users.find(userId))?.email ?? null;
    await gh.audit.record(gh.db, { actor: `user:${userId}`, action: 'admin.refused', subject: userId, details: { email, reason, during } });
  };

  const router = new Router({ prefix: consolePrefix });

  router.get('/static/admin.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = script;
  });
  router.get('/static/admin.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  router.get('/login', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const next = landingPath(ctx.query.next);
    // Already signed in (and still an admin): straight on.
    const session = ctx.query.switch ? undefined : await sessions.current(ctx);
    if (session) {
      ctx.redirect(`${base}${next}`);
      return;
    }
    const login = sessions.beginLogin(ctx, next);
    const auth = new URL(provider.urlFor('authorization'));
    auth.search = new URLSearchParams({
      client_id: consoleClientId,
      response_type: 'code',
      redirect_uri: consoleRedirectUri(issuer),
      scope: consoleScope,
      state: login.state,
      code_challenge: pkceChallenge(login.verifier),
      code_challenge_method: 'S256',
      // "Sign in as someone else" (from the 403 page): ask for the password even with a Gatehouse session.
      ...(ctx.query.switch ? { prompt: 'login' } : {}),
    }).toString();
    ctx.redirect(auth.href);
  });

  router.get('/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const login = sessions.finishLogin(ctx);
    const restart = 'Go to the console and sign in again.';
    if (!login) throw new GatehouseError('input.invalid', `This console sign-in has expired or was started in another browser. ${restart}`);
    const { code, state, error, iss } = ctx.query;
    if (typeof state !== 'string' || !constantTimeEqual(state, login.state)) {
      throw new GatehouseError('input.invalid', `This console sign-in does not match the one this browser started. ${restart}`);
    }
    if (typeof iss === 'string' && iss !== issuer) throw new GatehouseError('input.invalid', `This answer comes from another issuer. ${restart}`);
    if (typeof error === 'string') {
      throw new GatehouseError('input.invalid', `The sign-in was not completed (${error}). ${restart}`);
    }
    if (typeof code !== 'string' || !code) throw new GatehouseError('input.invalid', `The sign-in answer carries no code. ${restart}`);
    const accountId = await redeemConsoleCode(provider, issuer, code, login.verifier);
    let admin: { userId: string; email: string };
    try {
      admin = await adminAccount(gh, accountId);
    } catch (err) {
      if (!isGatehouseError(err) || err.code !== 'forbidden') throw err;
      await auditRefused(accountId, err.message, 'sign-in');
      return forbidden(ctx, err.message);
    }
    await sessions.start(ctx, accountId);
    await gh.audit.record(gh.db, { actor: `admin:${admin.email}`, action: 'admin.signed_in', subject: admin.userId });
    ctx.redirect(`${base}${login.next}`);
  });

  const noStore: Middleware = (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    return next();
  };

  router.post('/logout', noStore, parseForm, csrfCheck, async (ctx) => {
    const userId = await sessions.end(ctx);
    if (userId) {
      const user = await gh.users.find(userId);
      await gh.audit.record(gh.db, { actor: `admin:${user?.email ?? userId}`, action: 'admin.signed_out', subject: userId });
    }
    // Gatehouse's own session ends too (oidc-provider asks "Sign out?" and says when it is done).
    const end = new URL(provider.urlFor('end_session'));
    end.searchParams.set('client_id', consoleClientId);
    ctx.status = 303;
    ctx.redirect(end.href);
  });

  // The guard: every other path below /admin (the admin API has its own bearer auth). Routes, not
  // `router.use` (whose pattern path would cost ownRoutes its fast first-segment lookup); `/admin/`
  // matches both, so it runs once per request.
  const guard = async (ctx: Context, next: Next) => {
    if (ctx.state.admin || ctx.path === adminApiPrefix || ctx.path.startsWith(`${adminApiPrefix}/`)) return next();
    // GET pages carry the CSRF value for their forms (POST routes check it through `form`).
    if (['GET', 'HEAD', 'OPTIONS'].includes(ctx.method)) await csrfCheck(ctx, async () => {});
    ctx.set('Cache-Control', 'no-store');
    const session = await sessions.current(ctx);
    if (!session) {
      const wanted = ctx.method === 'GET' ? landingPath(`${ctx.path}${ctx.search}`) : consolePrefix;
      ctx.redirect(`${base}${consolePrefix}/login${wanted === consolePrefix ? '' : `?next=${encodeURIComponent(wanted)}`}`);
      return;
    }
    let admin: { userId: string; email: string };
    try {
      admin = await adminAccount(gh, session.userId);
    } catch (err) {
      if (!isGatehouseError(err) || err.code !== 'forbidden') throw err;
      // No longer an admin (removed from `admins:`, disabled, e-mail unverified): the session ends now.
      await sessions.end(ctx);
      await auditRefused(session.userId, err.message, 'session');
      return forbidden(ctx, err.message);
    }
    ctx.state.admin = { ...admin, actor: `admin:${admin.email}` } satisfies ConsoleAdmin;
    ctx.state.consoleNotice = (message: string) =>
      ctx.cookies.set(noticeCookie, Buffer.from(message.slice(0, 500)).toString('base64url'), { ...noticeOptions, maxAge: 60_000 });
    await next();
  };
  router.all('/', guard);
  router.all('/{*rest}', guard);

  const sectionDeps: ConsoleDeps = { gh, provider, page, form };
  for (const section of sections) section(router, sectionDeps);

  // Anything else below /admin: a not-found page inside the console (signed in; the guard ran first).
  // Two literal-first paths, not one `{/*rest}`: ownRoutes (http/middleware/own-routes.ts) keeps its fast lookup.
  const notFound = async (ctx: Context, next: Next) => {
    if (ctx.path === adminApiPrefix || ctx.path.startsWith(`${adminApiPrefix}/`)) return next();
    page(ctx, 'not-found', '', {}, 404);
  };
  router.all('/', notFound);
  router.all('/{*rest}', notFound);
  return router;
}
