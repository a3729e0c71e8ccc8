/** oidc-provider's `findAccount`: an internal user, unless unknown or disabled. */
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Gate } from '../gating/access.ts';
import type { Users } from '../identity/users.ts';
import { reportingOutages } from './unavailable.ts';

export function findAccountWith(users: Users, gate: Gate) {
  // oidc-provider asks for the same account several times in one request; one lookup per request is enough.
  const perRequest = new WeakMap<object, Map<string, ReturnType<Users['find']>>>();
  const lookup = (ctx: KoaContextWithOIDC, sub: string) => {
    let seen = perRequest.get(ctx);
    if (!seen) perRequest.set(ctx, (seen = new Map()));
    let found = seen.get(sub);
    if (!found) seen.set(sub, (found = users.find(sub)));
    return found;
  };
  // An outage answers 503 `temporarily_unavailable` (./unavailable.ts), not oidc-provider's 500.
  return reportingOutages(async (ctx: KoaContextWithOIDC, sub: string, token?: unknown): Promise<Account | undefined> => {
    const user = await lookup(ctx, sub);
    // A disabled user has no account as far as the protocol is concerned:
    // refresh grants, userinfo and new authorizations for it all fail.
    if (!user || user.status !== 'active') return undefined;
    // With a token in hand (code, refresh, device code, userinfo) access to the
    // client is checked again: when it has lapsed, the grant fails (invalid_grant).
    // Authorizations without a token are gated by the `access` prompt instead.
    const clientId = ctx.oidc?.client?.clientId;
    if (token && clientId && !(await gate.hasAccess(user.id, clientId))) {
      await gate.recordLapsed(user.id, clientId, 'refresh');
      return undefined;
    }
    return {
      accountId: user.id,
      async claims() {
        return {
          sub: user.id,
          ...(user.email ? { email: user.email, email_verified: user.email_verified } : {}),
          ...(user.name ? { name: user.name } : {}),
        };
      },
    };
  });
}
