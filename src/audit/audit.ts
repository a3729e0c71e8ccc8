/**
 * The audit log: every gating decision and admin action, appended in the same
 * transaction as the change it records. Depends on db only.
 */
import { appendAudit } from '../db/repos/audit-log.ts';
import type { DbOrTrx } from '../db/knex.ts';
import type { Clock } from '../lib/clock.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  subject?: string;
  details?: Record<string, unknown>;
}

export class Audit {
  constructor(private readonly clock: Clock) {}

  async record(db: DbOrTrx, entry: AuditEntry): Promise<void> {
    await appendAudit(db, {
      at: this.clock.now(),
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
    });
  }
}
