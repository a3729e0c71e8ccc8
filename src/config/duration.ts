/**
 * Durations as users write them: `30s`, `15m`, `12h`, `7d`, or an ISO date
 * (an absolute moment). Used by config and CLI flags alike.
 */
import { GatehouseError } from '../errors.ts';

const units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as const;
const relative = /^(\d+)\s*([smhdw])$/;

/** Seconds of a relative duration (`15m` → 900). ISO dates are refused here. */
export function parseDurationSeconds(text: string): number {
  const match = relative.exec(text.trim());
  if (!match) {
    throw new GatehouseError('input.invalid', `"${text}" is not a duration: use 30s, 15m, 12h, 7d or 2w`);
  }
  const amount = Number(match[1]);
  const seconds = amount * units[match[2] as keyof typeof units];
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new GatehouseError('input.invalid', `"${text}" must be a positive duration`);
  }
  return seconds;
}

/** The moment a duration or ISO date points at, seen from `now`; must lie in the future. */
export function parseExpiry(text: string, now: Date): Date {
  const trimmed = text.trim();
  let at: Date;
  if (relative.test(trimmed)) {
    at = new Date(now.getTime() + parseDurationSeconds(trimmed) * 1000);
  } else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed)) {
    at = new Date(trimmed);
    // Date() rolls impossible days over (2027-02-30 becomes March 2): refuse them instead.
    const [year, month, day] = trimmed.slice(0, 10).split('-').map(Number) as [number, number, number];
    const calendar = new Date(Date.UTC(year, month - 1, day));
    if (Number.isNaN(at.getTime()) || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) {
      throw new GatehouseError('input.invalid', `"${text}" is not a valid date`);
    }
  } else {
    throw new GatehouseError('input.invalid', `"${text}" is not a duration or date: use 30s, 15m, 12h, 7d or an ISO date like 2027-01-31`);
  }
  if (at.getTime() <= now.getTime()) {
    throw new GatehouseError('input.invalid', `"${text}" lies in the past`);
  }
  return at;
}
