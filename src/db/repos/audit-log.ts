/** Append-only audit rows, and the one query that searches them. */
import type { DbOrTrx } from '../knex.ts';
import { SqliteTx } from '../sqlite-statements.ts';
import type { DbOrTx } from '../transaction.ts';

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string | null;
}

export async function appendAudit(db: DbOrTx, row: Omit<AuditRow, 'id'>): Promise<void> {
  if (db instanceof SqliteTx) db.insert('audit_log', row);
  else await db('audit_log').insert(row);
}

export async function listAudit(db: DbOrTrx, limit = 100): Promise<AuditRow[]> {
  return db('audit_log').orderBy('id', 'desc').limit(limit);
}

/** What `searchAuditRows` keeps; every field given must match (AND). */
export interface AuditRowFilter {
  actor?: string | undefined;
  /** An exact action, or a prefix when `actionPrefix` is set (`client.` keeps client.registered, client.deleted…). */
  action?: string | undefined;
  actionPrefix?: boolean | undefined;
  subject?: string | undefined;
  /**
   * Rows about a client: its id as the subject of an action with one of
   * `subjectPrefixes`, or a `details` text containing `detailsNeedle`
   * (a fragment of JSON such as `"client":"web"`).
   */
  client?: { id: string; subjectPrefixes: readonly string[]; detailsNeedle: string } | undefined;
  /** Epoch ms, inclusive. */
  from?: number | undefined;
  /** Epoch ms, inclusive. */
  to?: number | undefined;
  /** Only rows with a smaller id (older than that row). */
  beforeId?: number | undefined;
}

/** `%`, `_` and the escape character itself, escaped for LIKE … ESCAPE '\' (the same on SQLite and PostgreSQL). */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The rows that match `filter`, newest first (by id: the order they were appended), at most `limit`. */
export async function searchAuditRows(db: DbOrTrx, filter: AuditRowFilter, limit: number): Promise<AuditRow[]> {
  const query = db('audit_log').orderBy('id', 'desc').limit(limit);
  if (filter.actor !== undefined) query.where('actor', filter.actor);
  if (filter.action !== undefined) {
    if (filter.actionPrefix) query.whereRaw(`action LIKE ? ESCAPE '\\'`, [`${likeLiteral(filter.action)}%`]);
    else query.where('action', filter.action);
  }
  if (filter.subject !== undefined) query.where('subject', filter.subject);
  if (filter.from !== undefined) query.where('at', '>=', filter.from);
  if (filter.to !== undefined) query.where('at', '<=', filter.to);
  if (filter.beforeId !== undefined) query.where('id', '<', filter.beforeId);
  const client = filter.client;
  if (client) {
    query.where((q) => {
      q.where((s) => {
        s.where('subject', client.id).andWhere((p) => {
          for (const prefix of client.subjectPrefixes) p.orWhereRaw(`action LIKE ? ESCAPE '\\'`, [`${likeLiteral(prefix)}%`]);
        });
      }).orWhereRaw(`details LIKE ? ESCAPE '\\'`, [`%${likeLiteral(client.detailsNeedle)}%`]);
    });
  }
  return query;
}
