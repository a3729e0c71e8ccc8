/** `user`, `user_idp`, local accounts and e-mail verifications. Plain rows, no policy. */
import { fastRead, fastWrite, insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';
import { SqliteTx } from '../sqlite-statements.ts';
import { insertRow, type DbOrTx } from '../transaction.ts';

export type UserStatus = 'active' | 'disabled';

export interface UserRow {
  id: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  status: UserStatus;
  created_at: number;
  last_login_at: number | null;
}

export interface UserIdpRow {
  connector_id: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: number;
}

export interface LocalAccountRow {
  id: string;
  email: string;
  name: string | null;
  password_hash: string;
  email_verified_at: number | null;
  created_at: number;
}

function toUser(row: (Omit<UserRow, 'email_verified'> & { email_verified: boolean | number }) | undefined): UserRow | undefined {
  return row && { ...row, email_verified: Boolean(row.email_verified) };
}

export async function insertUser(db: DbOrTx, row: UserRow): Promise<void> {
  await insertRow(db, 'user', row, 'user');
}

export async function findUser(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  if (db instanceof SqliteTx) return toUser(db.get('select * from "user" where id = ? limit 1', id));
  const fast = await fastRead<UserRow>(db, 'select * from "user" where id = ? limit 1', id);
  return toUser(fast ? fast[0] : await db('user').where({ id }).first());
}

export async function findUsersByEmail(db: DbOrTrx, email: string): Promise<UserRow[]> {
  const rows = await db('user').where({ email: email.toLowerCase() });
  return rows.map((r) => toUser(r)!);
}

export async function listUsers(db: DbOrTrx): Promise<UserRow[]> {
  const rows = await db('user').orderBy('created_at').orderBy('id');
  return rows.map((r) => toUser(r)!);
}

export async function countUsers(db: DbOrTrx): Promise<number> {
  const row = await db('user').count<{ n: number | string }[]>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

export async function updateUser(db: DbOrTx, id: string, patch: Partial<Omit<UserRow, 'id'>>): Promise<boolean> {
  if (db instanceof SqliteTx) return db.update('"user"', patch, 'id = ?', id) === 1;
  // The sign-in's own write (last_login_at): committed with the others of the moment on SQLite.
  if (Object.keys(patch).length === 1 && patch.last_login_at !== undefined) {
    const changed = await fastWrite(db, 'update "user" set last_login_at = ? where id = ?', patch.last_login_at, id);
    if (changed !== undefined) return changed === 1;
  }
  return (await db('user').where({ id }).update(patch)) === 1;
}

export async function deleteUser(db: DbOrTrx, id: string): Promise<boolean> {
  return (await db('user').where({ id }).delete()) === 1;
}

export async function insertUserIdp(db: DbOrTx, row: UserIdpRow): Promise<void> {
  await insertRow(db, 'user_idp', row, `identity ${row.connector_id}/${row.subject}`);
}

export async function findUserIdp(db: DbOrTx, connectorId: string, subject: string): Promise<UserIdpRow | undefined> {
  if (db instanceof SqliteTx) return db.get('select * from user_idp where connector_id = ? and subject = ? limit 1', connectorId, subject);
  const fast = await fastRead<UserIdpRow>(db, 'select * from user_idp where connector_id = ? and subject = ? limit 1', connectorId, subject);
  if (fast) return fast[0];
  return db('user_idp').where({ connector_id: connectorId, subject }).first();
}

export async function listUserIdps(db: DbOrTx, userId: string): Promise<UserIdpRow[]> {
  if (db instanceof SqliteTx) return db.all('select * from user_idp where user_id = ? order by created_at', userId);
  return db('user_idp').where({ user_id: userId }).orderBy('created_at');
}

export async function insertLocalAccount(db: DbOrTrx, row: LocalAccountRow): Promise<void> {
  await insertUnique(db('local_account').insert(row), `an account for ${row.email}`);
}

export async function findLocalAccountByEmail(db: DbOrTrx, email: string): Promise<LocalAccountRow | undefined> {
  const fast = await fastRead<LocalAccountRow>(db, 'select * from local_account where email = ? limit 1', email.toLowerCase());
  if (fast) return fast[0];
  return db('local_account').where({ email: email.toLowerCase() }).first();
}

export async function findLocalAccount(db: DbOrTrx, id: string): Promise<LocalAccountRow | undefined> {
  return db('local_account').where({ id }).first();
}

export async function updateLocalAccount(db: DbOrTrx, id: string, patch: Partial<Omit<LocalAccountRow, 'id'>>): Promise<void> {
  await db('local_account').where({ id }).update(patch);
}

export async function deleteLocalAccount(db: DbOrTrx, id: string): Promise<void> {
  await db('local_account').where({ id }).delete();
}

export async function insertEmailVerification(db: DbOrTrx, row: { token_hash: string; local_account_id: string; expires_at: number }): Promise<void> {
  await insertUnique(db('email_verification').insert({ ...row, used_at: null }), 'verification link');
}

/** The account an unused, unexpired verification link is for (reading only: the link stays usable). */
export async function findEmailVerification(db: DbOrTrx, tokenHash: string, now: number): Promise<string | undefined> {
  const row: { local_account_id: string } | undefined = await db('email_verification')
    .where({ token_hash: tokenHash })
    .whereNull('used_at')
    .andWhere('expires_at', '>', now)
    .first();
  return row?.local_account_id;
}

/** Uses a verification link once; returns the account id, or undefined if unknown, used or expired. */
export async function useEmailVerification(db: DbOrTrx, tokenHash: string, now: number): Promise<string | undefined> {
  const row: { local_account_id: string } | undefined = await db('email_verification')
    .where({ token_hash: tokenHash })
    .whereNull('used_at')
    .andWhere('expires_at', '>', now)
    .first();
  if (!row) return undefined;
  const changed = await db('email_verification').where({ token_hash: tokenHash }).whereNull('used_at').update({ used_at: now });
  return changed === 1 ? row.local_account_id : undefined;
}
