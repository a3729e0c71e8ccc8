/**
 * Who calls the admin API: `Authorization: Bearer` with an API key from
 * config (`adminApi.keys`) or an access token Gatehouse issued to an admin
 * (oidc/admin-tokens.ts: scope `gatehouse:admin`, through a static client
 * allowed it or the console's own; never a registered client).
 * An admin is an `admins:` e-mail, verified, whose account is active; the
 * check is made at every call, so removing someone from `admins:` or
 * disabling them ends their API access at once. Cookies are never looked at.
 */
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../../context.ts';
import { GatehouseError } from '../../errors.ts';
import { adminTokenGrant } from '../../oidc/admin-tokens.ts';
import { matchApiKey } from '../api-keys.ts';

/** True when `email` is one of the configured admins (any case). */
export function isAdminEmail(gh: Gatehouse, email: string | null | undefined): boolean {
  const wanted = email?.toLowerCase();
  return Boolean(wanted) && gh.config.admins.some((a) => a.toLowerCase() === wanted);
}

/** The admin behind `userId`, or a 403 saying why not. */
export async function adminAccount(gh: Gatehouse, userId: string): Promise<{ userId: string; email: string }> {
  const user = await gh.users.find(userId);
  if (!user || user.status !== 'active' || !isAdminEmail(gh, user.email)) {
    throw new GatehouseError('forbidden', 'Only administrators (the e-mail addresses listed under admins in config.yaml) may do this.');
  }
  if (!user.email_verified) throw new GatehouseError('forbidden', 'Administrators need a verified e-mail address.');
  return { userId: user.id, email: user.email! };
}

function bearer(ctx: Context): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
  return match?.[1];
}

function unauthenticated(ctx: Context, message: string): GatehouseError {
  ctx.set('WWW-Authenticate', 'Bearer realm="gatehouse-admin"');
  return new GatehouseError('auth.unauthenticated', message);
}

/** The actor of this request (`key:<id>` or `admin:<email>`), or a 401/403. */
export async function authenticate(ctx: Context, gh: Gatehouse, provider: Provider): Promise<string> {
  const presented = bearer(ctx);
  if (!presented) {
    throw unauthenticated(ctx, 'Send an API key (gatehouse admin-key create) or an admin access token as `Authorization: Bearer <token>`.');
  }
  const keyId = matchApiKey(gh.config.adminApi.keys, presented);
  if (keyId) return `key:${keyId}`;
  const grant = await adminTokenGrant(provider, presented, async (clientId) => (await gh.clients.find(clientId))?.source === 'registered');
  if (!grant) {
    throw unauthenticated(
      ctx,
      'This bearer token is not a valid API key or an unexpired access token with the gatehouse:admin scope from a configured client allowed that scope.',
    );
  }
  return `admin:${(await adminAccount(gh, grant.accountId)).email}`;
}
