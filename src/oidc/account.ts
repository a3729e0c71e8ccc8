/** oidc-provider's `findAccount`: an internal user, unless unknown or disabled. */
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Users } from '../identity/users.ts';

export function findAccountWith(users: Users) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    const user = await users.find(sub);
    // A disabled user has no account as far as the protocol is concerned:
    // refresh grants, userinfo and new authorizations for it all fail.
    if (!user || user.status !== 'active') return undefined;
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
  };
}
