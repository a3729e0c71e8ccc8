/** The mail queue: rows written in the caller's transaction, claimed by a sender with a lease. */
import type { DbOrTrx } from '../knex.ts';

export interface OutboxRow {
  id: number;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  status: 'pending' | 'sent';
  attempts: number;
  next_attempt_at: number;
  locked_until: number | null;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

export type NewMail = Pick<OutboxRow, 'to' | 'subject' | 'text' | 'html'>;

export async function enqueueMail(db: DbOrTrx, mail: NewMail, now: number): Promise<number> {
  const [row] = await db('mail_outbox')
    .insert({ ...mail, status: 'pending', attempts: 0, next_attempt_at: now, created_at: now })
    .returning('id');
  return typeof row === 'object' ? (row as { id: number }).id : (row as number);
}

export async function listDueMail(db: DbOrTrx, now: number, limit: number): Promise<OutboxRow[]> {
  return db('mail_outbox')
    .where({ status: 'pending' })
    .andWhere('next_attempt_at', '<=', now)
    .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<', now))
    .orderBy('id')
    .limit(limit);
}

/** Takes a lease on one mail; false if another sender (instance) got it first. */
export async function claimMail(db: DbOrTrx, id: number, now: number, leaseMs: number): Promise<boolean> {
  const changed = await db('mail_outbox')
    .where({ id, status: 'pending' })
    .andWhere('next_attempt_at', '<=', now)
    .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<', now))
    .update({ locked_until: now + leaseMs });
  return changed === 1;
}

export async function markMailSent(db: DbOrTrx, id: number, now: number): Promise<void> {
  await db('mail_outbox').where({ id }).update({ status: 'sent', sent_at: now, locked_until: null, last_error: null });
}

export async function markMailFailed(db: DbOrTrx, id: number, error: string, nextAttemptAt: number): Promise<void> {
  await db('mail_outbox')
    .where({ id })
    .increment('attempts', 1)
    .update({ last_error: error.slice(0, 2000), next_attempt_at: nextAttemptAt, locked_until: null });
}

export async function listMail(db: DbOrTrx): Promise<OutboxRow[]> {
  return db('mail_outbox').orderBy('id');
}
