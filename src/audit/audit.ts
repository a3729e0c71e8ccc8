/**
 * The audit log: every gating decision and admin action, appended in the same
 * transaction as the change it records. Depends on db only.
 */
import { appendAudit, searchAuditRows, type AuditRow } from '../db/repos/audit-log.ts';
import type { DbOrTrx } from '../db/knex.ts';
import type { DbOrTx } from '../db/transaction.ts';
import type { Clock } from '../lib/clock.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  subject?: string;
  details?: Record<string, unknown>;
}

export class Audit {
  constructor(private readonly clock: Clock) {}

  async record(db: DbOrTx, entry: AuditEntry): Promise<void> {
    await appendAudit(db, {
      at: this.clock.now(),
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
    });
  }
}

/** One audit entry as people read it: details parsed, the client it concerns named. */
export interface AuditEvent {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  /** The client the entry concerns, if any (see `clientOf`). */
  client: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditFilter {
  actor?: string | undefined;
  /** An exact action (`user.deleted`), or a family ending in `*` (`client.*`). */
  action?: string | undefined;
  subject?: string | undefined;
  /** A client id: entries whose subject is that client, or whose details name it as `client`. */
  client?: string | undefined;
  /** Epoch ms, inclusive. */
  from?: number | undefined;
  /** Epoch ms, inclusive. */
  to?: number | undefined;
  /** Only entries older than the one with this id. */
  beforeId?: number | undefined;
}

/**
 * The actions whose subject is a client id: client.* (registered, enabled,
 * deleted…), gate.* (allowed, refused at a client), device.* (enrolled). The
 * audit log has no client column; other entries name a client in their
 * details (`{ client: … }`: join requests, client tokens, ACL token links).
 */
export const clientSubjectPrefixes = ['client.', 'gate.', 'device.'] as const;

function parseDetails(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { text };
  }
}

/** The client an entry concerns: the subject of a client-subject action, else a string `client` in its details. */
export function clientOf(row: Pick<AuditRow, 'action' | 'subject'>, details: Record<string, unknown> | null): string | null {
  if (row.subject !== null && clientSubjectPrefixes.some((p) => row.action.startsWith(p))) return row.subject;
  return typeof details?.client === 'string' ? details.client : null;
}

/** The entries matching `filter`, newest first, at most `limit` (the newest ones). */
export async function searchAudit(db: DbOrTrx, filter: AuditFilter, limit: number): Promise<AuditEvent[]> {
  const family = filter.action?.endsWith('*') ?? false;
  const rows = await searchAuditRows(
    db,
    {
      actor: filter.actor,
      action: family ? filter.action?.slice(0, -1) : filter.action,
      actionPrefix: family,
      subject: filter.subject,
      from: filter.from,
      to: filter.to,
      beforeId: filter.beforeId,
      client:
        filter.client === undefined
          ? undefined
          : { id: filter.client, subjectPrefixes: clientSubjectPrefixes, detailsNeedle: `"client":${JSON.stringify(filter.client)}` },
    },
    limit,
  );
  return rows
    .map((row) => {
      const details = parseDetails(row.details);
      return { id: row.id, at: Number(row.at), actor: row.actor, action: row.action, subject: row.subject, client: clientOf(row, details), details };
    })
    .filter((event) => filter.client === undefined || event.client === filter.client);
}
