/**
 * `password_reset`: mailed reset links, keyed by the SHA-256 of the link's
 * token. Reading a link changes nothing; using it is one conditional UPDATE
 * whose row count says who won. Plain rows, no policy.
 */
import { insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

export interface PasswordResetRow {
  token_hash: string;
  local_account_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

const toRow = (row: Record<string, unknown> | undefined): PasswordResetRow | undefined =>
  row && {
    token_hash: String(row.token_hash),
    local_account_id: String(row.local_account_id),
    created_at: Number(row.created_at),
    expires_at: Number(row.expires_at),
    used_at: row.used_at === null || row.used_at === undefined ? null : Number(row.used_at),
  };

export async function insertPasswordReset(db: DbOrTrx, row: Omit<PasswordResetRow, 'used_at'>): Promise<void> {
  await insertUnique(db('password_reset').insert({ ...row, used_at: null }), 'reset link');
}

/** The link with this hash, whatever its state (used, expired): the caller says which. Reading only. */
export async function findPasswordReset(db: DbOrTrx, tokenHash: string): Promise<PasswordResetRow | undefined> {
  return toRow(await db('password_reset').where({ token_hash: tokenHash }).first());
}

/** Uses an unused, unexpired link once; true for the one caller that did (a concurrent second use gets false). */
export async function usePasswordReset(db: DbOrTrx, tokenHash: string, now: number): Promise<boolean> {
  const changed = await db('password_reset').where({ token_hash: tokenHash }).whereNull('used_at').andWhere('expires_at', '>', now).update({ used_at: now });
  return changed === 1;
}

/** Voids every other open link of the account (a password just changed); returns how many. */
export async function voidPasswordResets(db: DbOrTrx, localAccountId: string, now: number): Promise<number> {
  return db('password_reset').where({ local_account_id: localAccountId }).whereNull('used_at').update({ used_at: now });
}

/** Forgets links that expired before `before` (housekeeping); returns how many. */
export async function deleteExpiredPasswordResets(db: DbOrTrx, before: number): Promise<number> {
  return db('password_reset').where('expires_at', '<', before).delete();
}

/**
 * Ends a user's admin console sessions (`admin_session`): a changed password
 * ends every session of the account, the console's included.
 * TODO: belongs in admin-sessions.ts (owned by the console work).
 */
export async function deleteAdminSessionsOfUser(db: DbOrTrx, userId: string): Promise<number> {
  return db('admin_session').where({ user_id: userId }).delete();
}
