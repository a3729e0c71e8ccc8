/**
 * A person's own identities (the ways they sign in: `user_idp` links), as the
 * Security page at `/account/security` shows them: listing, unlinking one
 * (never the last: the account would have no way in), and checking the
 * current password of the local (e-mail + password) account before it is
 * changed. Plain values in, plain rows out.
 */
import type { Audit } from '../audit/audit.ts';
import type { DbOrTrx, Db } from '../db/knex.ts';
import { withTransaction } from '../db/transaction.ts';
import { deleteUserIdp } from '../db/repos/user-idps.ts';
import { deleteLocalAccount, findLocalAccount, listUserIdps, type UserIdpRow } from '../db/repos/users.ts';
import { GatehouseError } from '../errors.ts';
import type { Passwords } from './passwords.ts';

/** The identities linked to a user, oldest first. */
export async function identitiesOf(db: DbOrTrx, userId: string): Promise<UserIdpRow[]> {
  return listUserIdps(db, userId);
}

/**
 * Unlinks one identity of a user (a local one takes its e-mail + password
 * account with it), audited as `user.identity_unlinked`. Refused when it is
 * the user's last one (`forbidden`) or not theirs (`not_found`).
 */
export async function unlinkIdentity(
  db: Db,
  audit: Audit,
  input: { userId: string; connectorId: string; subject: string; actor: string; localConnectorId: string | undefined },
): Promise<void> {
  await withTransaction(db, async (trx) => {
    const links = await listUserIdps(trx, input.userId);
    const link = links.find((l) => l.connector_id === input.connectorId && l.subject === input.subject);
    if (!link) throw new GatehouseError('not_found', 'That sign-in method is not linked to this account.');
    if (links.length === 1) {
      throw new GatehouseError('forbidden', 'This is the only way you sign in to this account, so it cannot be removed. Link another one first.');
    }
    await deleteUserIdp(trx, input.userId, link.connector_id, link.subject);
    if (link.connector_id === input.localConnectorId) await deleteLocalAccount(trx, link.subject);
    await audit.record(trx, {
      actor: input.actor,
      action: 'user.identity_unlinked',
      subject: input.userId,
      details: { connector: link.connector_id, email: link.email },
    });
  });
}

/**
 * Whether `password` is the current password of the user's local account.
 * `not_found` when the user has no local account (nothing to change).
 */
export async function checkLocalPassword(
  db: DbOrTrx,
  passwords: Passwords,
  userId: string,
  localConnectorId: string | undefined,
  password: string,
): Promise<boolean> {
  const links = await listUserIdps(db, userId);
  const local = localConnectorId ? links.find((l) => l.connector_id === localConnectorId) : undefined;
  if (!local) throw new GatehouseError('not_found', 'This account has no password of its own: it signs in through another provider.');
  const account = await findLocalAccount(db, local.subject);
  return passwords.verify(account?.password_hash, password);
}
