/** Signing keys and cookie keys, made on first start and kept in the database. */
import { insertUnique, lockRows } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  created_at: number;
  retired_at: number | null;
}

export async function listSigningKeys(db: DbOrTrx): Promise<SigningKeyRow[]> {
  return db('signing_key').orderBy('created_at', 'desc').orderBy('kid');
}

/** The key set without the private keys: what a running server compares to see whether it changed. */
export async function listSigningKeyStates(db: DbOrTrx): Promise<Omit<SigningKeyRow, 'private_jwk'>[]> {
  return db('signing_key').select('kid', 'alg', 'created_at', 'retired_at').orderBy('created_at', 'desc').orderBy('kid');
}

/**
 * Locks the signing keys of one algorithm until the transaction ends, so two
 * revocations at once cannot both see "another active key remains" and leave
 * none.
 */
export async function lockSigningKeys(db: DbOrTrx, alg: string): Promise<void> {
  await lockRows(db, db('signing_key').where({ alg }).select('kid'));
}

export async function deleteSigningKey(db: DbOrTrx, kid: string): Promise<number> {
  return db('signing_key').where({ kid }).delete();
}

export async function insertSigningKey(db: DbOrTrx, row: SigningKeyRow): Promise<void> {
  await insertUnique(db('signing_key').insert(row), `signing key ${row.kid}`);
}

export async function retireSigningKeys(db: DbOrTrx, alg: string, at: number): Promise<void> {
  await db('signing_key').where({ alg }).whereNull('retired_at').update({ retired_at: at });
}

export async function deleteSigningKeysRetiredBefore(db: DbOrTrx, before: number): Promise<number> {
  return db('signing_key').whereNotNull('retired_at').andWhere('retired_at', '<', before).delete();
}

export async function listCookieKeys(db: DbOrTrx): Promise<string[]> {
  const rows: { secret: string }[] = await db('cookie_key').select('secret').orderBy('id', 'desc');
  return rows.map((r) => r.secret);
}

export async function insertCookieKey(db: DbOrTrx, secret: string, at: number): Promise<void> {
  await db('cookie_key').insert({ secret, created_at: at });
}
