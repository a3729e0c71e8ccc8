/** Append-only audit rows. */
import type { DbOrTrx } from '../knex.ts';

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string | null;
}

export async function appendAudit(db: DbOrTrx, row: Omit<AuditRow, 'id'>): Promise<void> {
  await db('audit_log').insert(row);
}

export async function listAudit(db: DbOrTrx, limit = 100): Promise<AuditRow[]> {
  return db('audit_log').orderBy('id', 'desc').limit(limit);
}
