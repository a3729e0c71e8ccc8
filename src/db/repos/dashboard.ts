/**
 * Read-only counts for the admin dashboard: gate decisions per UTC day from
 * the audit log, and the state of the mail queue. Nothing here changes a row.
 */
import { jsonText } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

const dayMs = 86_400_000;

/** The audit actions the gate writes (src/gating/access.ts): one row per decision. */
export const gateActions = ['gate.allowed', 'gate.refused'] as const;

export interface GateDecisionCount {
  /** Days since 1970-01-01 (UTC): `at` divided by a day, rounded down. */
  dayNumber: number;
  result: 'allowed' | 'refused';
  /** `details.reason` of a refusal (an error code such as `acl_token.exhausted`, or `no_access`); `details.via` of an allowance, if any. */
  reason: string | null;
  count: number;
}

/** Gate decisions with `from <= at < to`, counted per UTC day, result and reason. */
export async function countGateDecisions(db: DbOrTrx, from: number, to: number): Promise<GateDecisionCount[]> {
  const day = `(at / ${dayMs})`;
  const reason = `case when action = 'gate.refused' then ${jsonText(db, 'details', 'reason')} else ${jsonText(db, 'details', 'via')} end`;
  const rows: { day_number: number | string; action: string; reason: string | null; n: number | string }[] = await db('audit_log')
    .select(db.raw(`${day} as day_number`), 'action', db.raw(`${reason} as reason`), db.raw('count(*) as n'))
    .whereIn('action', gateActions)
    .andWhere('at', '>=', from)
    .andWhere('at', '<', to)
    .groupByRaw(`${day}, action, ${reason}`);
  return rows.map((r) => ({
    dayNumber: Number(r.day_number),
    result: r.action === 'gate.allowed' ? 'allowed' : 'refused',
    reason: r.reason ?? null,
    count: Number(r.n),
  }));
}

export interface FailingMailRow {
  id: number;
  to: string;
  subject: string;
  attempts: number;
  last_error: string;
  created_at: number;
  next_attempt_at: number;
}

export interface MailQueueCounts {
  /** Not sent yet (status pending), failing ones included. */
  queued: number;
  /** Queued mail that has failed at least once (attempts > 0 and an error kept). */
  failing: number;
  /** When the oldest queued mail was queued, or null. */
  oldestQueuedAt: number | null;
  /** Mail sent at or after `since`. */
  sentSince: number;
}

export async function countMailQueue(db: DbOrTrx, since: number): Promise<MailQueueCounts> {
  const [queued] = await db('mail_outbox').where({ status: 'pending' }).count({ n: '*' }).min({ oldest: 'created_at' });
  const [failing] = await db('mail_outbox').where({ status: 'pending' }).andWhere('attempts', '>', 0).whereNotNull('last_error').count({ n: '*' });
  const [sent] = await db('mail_outbox').where({ status: 'sent' }).andWhere('sent_at', '>=', since).count({ n: '*' });
  const oldest = (queued as { oldest: number | string | null } | undefined)?.oldest;
  return {
    queued: Number(queued?.n ?? 0),
    failing: Number(failing?.n ?? 0),
    oldestQueuedAt: oldest === null || oldest === undefined ? null : Number(oldest),
    sentSince: Number(sent?.n ?? 0),
  };
}

/**
 * Queued mail that has failed, by next attempt, latest first (then the newer
 * row): the outbox keeps no time of failure, only when the sender tries again.
 */
export async function listFailingMail(db: DbOrTrx, limit: number): Promise<FailingMailRow[]> {
  return db('mail_outbox')
    .select('id', 'to', 'subject', 'attempts', 'last_error', 'created_at', 'next_attempt_at')
    .where({ status: 'pending' })
    .andWhere('attempts', '>', 0)
    .whereNotNull('last_error')
    .orderBy('next_attempt_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
}
