/**
 * Admin console sessions: one row per signed-in admin browser, keyed by the
 * SHA-256 of its cookie's random id (the caller hashes; no plain id is
 * stored). Whether a session is still good is the caller's decision.
 */
import type { DbOrTrx } from '../knex.ts';

export interface AdminSessionRow {
  /** sha256(cookie value), hex. */
  id: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
}

export async function insertAdminSession(db: DbOrTrx, row: AdminSessionRow): Promise<void> {
  await db('admin_session').insert(row);
}

export async function findAdminSession(db: DbOrTrx, id: string): Promise<AdminSessionRow | undefined> {
  return db('admin_session').where({ id }).first();
}

/** Moves last_seen_at forward (never back: two requests may race). */
export async function touchAdminSession(db: DbOrTrx, id: string, now: number): Promise<void> {
  await db('admin_session').where({ id }).andWhere('last_seen_at', '<', now).update({ last_seen_at: now });
}

export async function deleteAdminSession(db: DbOrTrx, id: string): Promise<boolean> {
  return (await db('admin_session').where({ id }).delete()) === 1;
}

/** Sessions idle since before `idleBefore` or begun before `createdBefore`; returns how many went. */
export async function deleteStaleAdminSessions(db: DbOrTrx, idleBefore: number, createdBefore: number): Promise<number> {
  return db('admin_session').where('last_seen_at', '<', idleBefore).orWhere('created_at', '<', createdBefore).delete();
}
