/**
 * `mfa_factor`, `mfa_recovery_code`, `mfa_requirement` (identity/mfa/): plain
 * rows, no policy. The TOTP replay guard and recovery codes are used by
 * conditional UPDATEs whose row count says who won.
 */
import { fastRead, readRows } from '../flavor.ts';
import type { Db, DbOrTrx } from '../knex.ts';

export interface FactorRow {
  id: string;
  user_id: string;
  kind: string;
  name: string;
  secret: string;
  credential_id: string | null;
  last_step: number | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const toFactor = (row: Record<string, unknown>): FactorRow => ({
  id: String(row.id),
  user_id: String(row.user_id),
  kind: String(row.kind),
  name: String(row.name),
  secret: String(row.secret),
  credential_id: row.credential_id === null || row.credential_id === undefined ? null : String(row.credential_id),
  last_step: num(row.last_step),
  created_at: Number(row.created_at),
  confirmed_at: num(row.confirmed_at),
  last_used_at: num(row.last_used_at),
});

export async function insertFactor(db: DbOrTrx, row: Omit<FactorRow, 'last_step' | 'last_used_at'> & { last_step?: number | null }): Promise<void> {
  await db('mfa_factor').insert({ ...row, last_step: row.last_step ?? null, last_used_at: null });
}

/** The user's factors, oldest first; `confirmed` only the enrolled ones (default), else also those waiting for their first code. */
export async function listFactors(db: DbOrTrx, userId: string, options: { includeUnconfirmed?: boolean } = {}): Promise<FactorRow[]> {
  if (!options.includeUnconfirmed) {
    // Every sign-in asks this: a prepared read on SQLite.
    const fast = await fastRead<Parameters<typeof toFactor>[0]>(
      db,
      'select * from mfa_factor where user_id = ? and confirmed_at is not null order by created_at asc, id asc',
      userId,
    );
    if (fast) return fast.map(toFactor);
  }
  const q = db('mfa_factor').where({ user_id: userId });
  if (!options.includeUnconfirmed) q.whereNotNull('confirmed_at');
  return (await q.orderBy([{ column: 'created_at' }, { column: 'id' }])).map(toFactor);
}

export async function findFactor(db: DbOrTrx, id: string): Promise<FactorRow | undefined> {
  const row = await db('mfa_factor').where({ id }).first();
  return row ? toFactor(row) : undefined;
}

export async function findFactorByCredentialId(db: DbOrTrx, credentialId: string): Promise<FactorRow | undefined> {
  const row = await db('mfa_factor').where({ credential_id: credentialId }).first();
  return row ? toFactor(row) : undefined;
}

export async function confirmFactor(db: DbOrTrx, id: string, now: number): Promise<boolean> {
  return (await db('mfa_factor').where({ id }).whereNull('confirmed_at').update({ confirmed_at: now })) === 1;
}

/** The TOTP replay guard: accepts `step` for the factor once; false when it (or a later step) was used already. */
export async function claimTimeStep(db: DbOrTrx, id: string, step: number, now: number): Promise<boolean> {
  const changed = await db('mfa_factor')
    .where({ id })
    .andWhere((q) => q.whereNull('last_step').orWhere('last_step', '<', step))
    .update({ last_step: step, last_used_at: now });
  return changed === 1;
}

export async function updateFactor(db: DbOrTrx, id: string, changes: Partial<Pick<FactorRow, 'secret' | 'name' | 'last_used_at'>>): Promise<void> {
  await db('mfa_factor').where({ id }).update(changes);
}

export async function deleteFactor(db: DbOrTrx, userId: string, id: string): Promise<boolean> {
  return (await db('mfa_factor').where({ id, user_id: userId }).delete()) === 1;
}

/** Unconfirmed enrollments of a user (a page left before the first code): forgotten when a new one starts. */
export async function deleteUnconfirmedFactors(db: DbOrTrx, userId: string, kind: string): Promise<number> {
  return db('mfa_factor').where({ user_id: userId, kind }).whereNull('confirmed_at').delete();
}

export async function deleteFactorsOfUser(db: DbOrTrx, userId: string): Promise<number> {
  return db('mfa_factor').where({ user_id: userId }).delete();
}

export async function replaceRecoveryCodes(db: DbOrTrx, userId: string, hashes: string[], now: number): Promise<void> {
  await db('mfa_recovery_code').where({ user_id: userId }).delete();
  if (hashes.length) await db('mfa_recovery_code').insert(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: now, used_at: null })));
}

/** Uses an unused code once; true for the one caller that did. */
export async function useRecoveryCode(db: DbOrTrx, userId: string, hash: string, now: number): Promise<boolean> {
  return (await db('mfa_recovery_code').where({ user_id: userId, code_hash: hash }).whereNull('used_at').update({ used_at: now })) === 1;
}

export async function countRecoveryCodes(db: DbOrTrx, userId: string): Promise<{ total: number; unused: number }> {
  const rows = await db('mfa_recovery_code').where({ user_id: userId }).select('used_at');
  return { total: rows.length, unused: rows.filter((r: { used_at: unknown }) => r.used_at === null).length };
}

export async function deleteRecoveryCodes(db: DbOrTrx, userId: string): Promise<number> {
  return db('mfa_recovery_code').where({ user_id: userId }).delete();
}

export async function findRequirement(db: DbOrTrx, userId: string): Promise<{ reason: string; detail: string | null } | undefined> {
  const fast = await fastRead<{ reason: unknown; detail: unknown }>(db, 'select * from mfa_requirement where user_id = ? limit 1', userId);
  const row = fast ? fast[0] : await db('mfa_requirement').where({ user_id: userId }).first();
  return row ? { reason: String(row.reason), detail: row.detail === null || row.detail === undefined ? null : String(row.detail) } : undefined;
}

/** Whether the user has an enrolled factor or must give one (a requirement row): one read, the question every sign-in asks. */
export async function hasFactorOrRequirement(db: Db, userId: string): Promise<boolean> {
  const [row] = (await readRows(
    db,
    'select (exists (select 1 from mfa_factor where user_id = ? and confirmed_at is not null) or exists (select 1 from mfa_requirement where user_id = ?)) as needed',
    [userId, userId],
  )) as { needed: unknown }[];
  return row?.needed === true || row?.needed === 1;
}

export async function setRequirement(db: DbOrTrx, userId: string, reason: string, detail: string | null, now: number): Promise<void> {
  await db('mfa_requirement').insert({ user_id: userId, reason, detail, created_at: now }).onConflict('user_id').ignore();
}
