/**
 * Access tokens as admin credentials (`/admin/api`, SPEC 9): a token this
 * provider issued, still valid, carrying the `gatehouse:admin` scope, through
 * a client that is explicitly allowed that scope (its `scope` metadata names
 * it: a client without `scope` metadata may ask for any scope oidc-provider
 * knows, so the scope alone proves nothing). Who the token speaks for is
 * checked by the caller (an `admins:` e-mail, verified, active).
 */
import type { Provider } from 'oidc-provider';

export const adminScope = 'gatehouse:admin';

export interface AdminTokenGrant {
  accountId: string;
  clientId: string;
}

/** The account behind `value` when it is a live admin access token, else undefined. */
export async function adminTokenGrant(provider: Provider, value: string): Promise<AdminTokenGrant | undefined> {
  const token = await provider.AccessToken.find(value);
  if (!token || token.isExpired || !token.accountId || !token.clientId) return undefined;
  if (
    !String(token.scope ?? '')
      .split(' ')
      .includes(adminScope)
  )
    return undefined;
  const client = await provider.Client.find(token.clientId);
  if (
    !client ||
    !String(client.scope ?? '')
      .split(' ')
      .includes(adminScope)
  )
    return undefined;
  return { accountId: token.accountId, clientId: token.clientId };
}
