/**
 * What the audit log says about the gate over the last days: its decisions
 * (`gate.allowed`, `gate.refused`, see src/gating/access.ts) counted per UTC
 * day, refusals by reason. Every day of the window has its bucket, empty or
 * not, oldest first. Depends on db and lib only.
 */
import { countGateDecisions } from '../db/repos/dashboard.ts';
import type { DbOrTrx } from '../db/knex.ts';
import type { Clock } from '../lib/clock.ts';

export const dayMs = 86_400_000;

/** A refusal whose audit row names no reason. */
export const unknownReason = 'unknown';

export interface GateDay {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  allowed: number;
  refused: number;
  /** Refusals by reason (`acl_token.exhausted`, `access.token_required`, `no_access`…); the counts add up to `refused`. */
  reasons: Record<string, number>;
}

export interface GateStats {
  /** Start of the first day (UTC midnight), epoch ms. */
  from: number;
  /** End of the last day (today): the next UTC midnight, epoch ms. */
  to: number;
  days: GateDay[];
  allowed: number;
  refused: number;
  reasons: Record<string, number>;
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Gate decisions of the last `days` UTC days, today included. */
export async function gateDecisionsByDay(db: DbOrTrx, clock: Clock, days = 14): Promise<GateStats> {
  const today = Math.floor(clock.now() / dayMs);
  const first = today - days + 1;
  const from = first * dayMs;
  const to = (today + 1) * dayMs;
  const buckets: GateDay[] = Array.from({ length: days }, (_, i) => ({ day: utcDay((first + i) * dayMs), allowed: 0, refused: 0, reasons: {} }));
  const total: GateStats = { from, to, days: buckets, allowed: 0, refused: 0, reasons: {} };
  for (const row of await countGateDecisions(db, from, to)) {
    const bucket = buckets[row.dayNumber - first];
    if (!bucket) continue;
    if (row.result === 'allowed') {
      bucket.allowed += row.count;
      total.allowed += row.count;
      continue;
    }
    const reason = row.reason || unknownReason;
    bucket.refused += row.count;
    bucket.reasons[reason] = (bucket.reasons[reason] ?? 0) + row.count;
    total.refused += row.count;
    total.reasons[reason] = (total.reasons[reason] ?? 0) + row.count;
  }
  return total;
}
