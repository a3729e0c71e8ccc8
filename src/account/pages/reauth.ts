/**
 * Re-authentication before changing how someone signs in (issue 15): adding
 * an authenticator app or a passkey, making new recovery codes, or removing a
 * second factor or passkey at /account/security first asks the person to prove
 * who they are again, unless they did within the last 5 minutes (the injected
 * clock; `account_session.reauthenticated_at`).
 *
 * The proof, at GET/POST /account/security/confirm: the current password (the
 * local connector's `authenticate`, so a wrong one counts in the sign-in
 * throttle, identity/login-throttle.ts), or a code from an authenticator app
 * (throttled per account, identity/mfa/), or **Sign in again**
 * (`/account/login?fresh=1`: Gatehouse's sign-in with `prompt=login`, where a
 * passkey or an upstream provider works too, and an upstream is asked for
 * `prompt=login` as well). A sign-in that asked who the person is less than
 * 5 minutes before counts as a proof too (../index.ts).
 *
 * This section comes first (./index.ts): its routes on the guarded paths run
 * before the Security and Passkeys sections' own and let them through only
 * with a fresh proof. A GET without one goes to the confirm page and back; a
 * POST is refused there too (a 303 to the confirm page; the passkey options,
 * which a script fetches, answer 403 JSON).
 */
import type { Context, Next } from 'koa';
import type { Gatehouse } from '../../context.ts';
import { markAccountSessionReauthenticated } from '../../db/repos/account-sessions.ts';
import { findLocalAccount } from '../../db/repos/users.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { identitiesOf } from '../../identity/identities.ts';
import { personOf, sessionOf, type SiteSection } from '../site.ts';

/** A proof is good this long. */
export const reauthWindowMs = 5 * 60_000;

export const reauthPath = '/account/security/confirm';

const securityPath = '/account/security';

/** The pages that change how the person signs in: GET ones come back here after the proof. */
const guardedPages = [
  `${securityPath}/totp`,
  `${securityPath}/passkeys`,
  `${securityPath}/factors/remove`,
  `${securityPath}/passkeys/remove`,
  `${securityPath}/recovery-codes/new`,
];
/** The posts that change it: refused without a fresh proof. */
const guardedPosts = [...guardedPages];
/** Fetched by views/static/passkeys.js: a JSON answer. */
const guardedJson = `${securityPath}/passkeys/options`;

const field = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/** Where to go after the proof: one of the guarded pages (its query kept) or the Security page. */
export function afterProof(wanted: unknown): string {
  if (typeof wanted !== 'string' || wanted.length > 500 || !/^[A-Za-z0-9\-._~%/?=&]*$/.test(wanted)) return securityPath;
  const path = wanted.split('?')[0]!;
  return guardedPages.includes(path) || path === securityPath ? wanted : securityPath;
}

/** Whether this request's session has a proof younger than `reauthWindowMs`. */
export function recentlyProved(gh: Gatehouse, ctx: Context): boolean {
  const at = sessionOf(ctx).reauthenticatedAt;
  const age = gh.clock.now() - (at ?? Number.NEGATIVE_INFINITY);
  return at !== null && age >= 0 && age < reauthWindowMs;
}

/** The issuer's path (`''` at the root). */
const baseOf = (gh: Gatehouse): string => new URL(gh.config.issuer).pathname.replace(/\/$/, '');

/** How this person can prove it: a password of their own, an authenticator app. */
async function waysOf(gh: Gatehouse, userId: string): Promise<{ localEmail: string | undefined; localSubject: string | undefined; hasTotp: boolean }> {
  const local = gh.connectors.find((c) => c.type === 'local');
  const link = local ? (await identitiesOf(gh.db, userId)).find((l) => l.connector_id === local.id) : undefined;
  const account = link ? await findLocalAccount(gh.db, link.subject) : undefined;
  const hasTotp = (await gh.mfa.factors(userId)).some((f) => f.kind === 'totp');
  return { localEmail: account?.email, localSubject: link?.subject, hasTotp };
}

export const reauthPages: SiteSection = (router, { gh, page, form }) => {
  const base = baseOf(gh);
  const confirmUrl = (next: string) => `${base}${reauthPath}?next=${encodeURIComponent(afterProof(next))}`;

  for (const path of guardedPages) {
    router.get(path, async (ctx: Context, next: Next) => {
      if (recentlyProved(gh, ctx)) return next();
      ctx.redirect(confirmUrl(`${ctx.path}${ctx.search}`));
    });
  }
  for (const path of guardedPosts) {
    router.post(path, async (ctx: Context, next: Next) => {
      if (recentlyProved(gh, ctx)) return next();
      // Nothing is changed: the person confirms it is them, then does it again.
      ctx.status = 303;
      ctx.redirect(confirmUrl(path === `${securityPath}/totp` || path === `${securityPath}/passkeys` ? path : securityPath));
    });
  }
  router.post(guardedJson, async (ctx: Context, next: Next) => {
    if (recentlyProved(gh, ctx)) return next();
    ctx.status = 403;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'For your safety, confirm it is you again first: more than 5 minutes have passed. Reload this page.',
      confirm: confirmUrl(`${securityPath}/passkeys`),
    };
  });

  const show = async (ctx: Context, nextPath: string, extra: Record<string, unknown> = {}, status = 200) => {
    const ways = await waysOf(gh, personOf(ctx).userId);
    const local = gh.connectors.find((c) => c.type === 'local');
    const upstream = gh.connectors.filter((c) => c.type === 'oidc').map((c) => c.name);
    page(
      ctx,
      'reauth',
      'security',
      {
        title: 'Confirm it is you',
        next: nextPath,
        hasPassword: !!ways.localEmail && !!local,
        hasTotp: ways.hasTotp,
        upstream,
        signInAgain: `${base}/account/login?fresh=1&next=${encodeURIComponent(`${reauthPath}?next=${encodeURIComponent(nextPath)}`)}`,
        ...extra,
      },
      status,
    );
  };

  router.get(reauthPath, async (ctx) => {
    const nextPath = afterProof(ctx.query.next);
    // Proved already (just now, or by signing in again): straight on.
    if (recentlyProved(gh, ctx)) return ctx.redirect(`${base}${nextPath}`);
    return show(ctx, nextPath);
  });

  router.post(reauthPath, ...form, async (ctx) => {
    const person = personOf(ctx);
    const nextPath = afterProof(field(ctx, 'next'));
    const method = field(ctx, 'method');
    try {
      if (method === 'password') {
        const ways = await waysOf(gh, person.userId);
        const local = gh.connectors.find((c) => c.type === 'local');
        if (!local || !ways.localEmail) throw new GatehouseError('input.invalid', 'Your account has no password of its own. Use another way below.');
        const password = field(ctx, 'password');
        if (!password) throw new GatehouseError('input.invalid', 'Enter your password.');
        // The sign-in's own check: a wrong password counts in the sign-in throttle for this address and IP.
        const identity = await local.authenticate(ways.localEmail, password, ctx.ip);
        if (identity.subject !== ways.localSubject) throw new GatehouseError('auth.invalid_credentials', 'That is not your password.');
      } else if (method === 'code') {
        await gh.mfa.verifyTotp(person.userId, field(ctx, 'code').replace(/\s+/g, ''));
      } else {
        throw new GatehouseError('input.invalid', 'Choose a way to confirm it is you.');
      }
    } catch (err) {
      if (!isGatehouseError(err)) throw err;
      const fieldName = method === 'code' ? 'codeError' : 'passwordError';
      const retryAfter = err.details?.retryAfterSeconds;
      if (typeof retryAfter === 'number') ctx.set('Retry-After', String(retryAfter));
      if (err.code === 'auth.invalid_credentials') {
        return show(
          ctx,
          nextPath,
          {
            [fieldName]:
              'That is not your password. Wrong passwords here count toward the same limit as at sign-in: after a few, you must wait before trying again.',
          },
          400,
        );
      }
      if (err.code === 'auth.throttled' || err.code === 'rate_limited') return show(ctx, nextPath, { [fieldName]: err.message }, 429);
      if (err.code === 'input.invalid' || err.code === 'auth.email_not_verified') return show(ctx, nextPath, { [fieldName]: err.message }, 400);
      throw err;
    }
    await markAccountSessionReauthenticated(gh.db, sessionOf(ctx).id, gh.clock.now());
    ctx.status = 303;
    ctx.redirect(`${base}${nextPath}`);
  });
};
