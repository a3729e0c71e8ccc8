/**
 * Access tokens as admin credentials (`/admin/api`, SPEC 9): a token this
 * provider issued, still valid, carrying the `gatehouse:admin` scope, through
 * a client that is explicitly allowed that scope (its `scope` metadata names
 * it: a client without `scope` metadata may ask for any scope oidc-provider
 * knows, so the scope alone proves nothing) and that the operator set up:
 * a static client from config.yaml or the console's own, never a registered
 * one, whose metadata its registrant wrote (a registration token holder could
 * otherwise name the scope and collect admin tokens from admins who sign in
 * to their app). Who the token speaks for is checked by the caller (an
 * `admins:` e-mail, verified, active).
 */
import type { Provider } from 'oidc-provider';

export const adminScope = 'gatehouse:admin';

export interface AdminTokenGrant {
  accountId: string;
  clientId: string;
}

/**
 * The account behind `value` when it is a live admin access token, else
 * undefined. `isRegistered` says whether a client id is a registered client
 * (the caller's client directory).
 */
export async function adminTokenGrant(
  provider: Provider,
  value: string,
  isRegistered: (clientId: string) => Promise<boolean>,
): Promise<AdminTokenGrant | undefined> {
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
  if (await isRegistered(token.clientId)) return undefined;
  return { accountId: token.accountId, clientId: token.clientId };
}
