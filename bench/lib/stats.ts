/** Percentiles and the shape every measurement is reported in. */

export interface Measurement {
  /** Completed operations (requests, or whole round trips) per second. */
  rps: number;
  p50ms: number;
  p99ms: number;
  /** How many operations the numbers are based on. */
  count: number;
  /** Measured time, so rounds can be combined. */
  elapsedSec: number;
}

/** Nearest-rank percentile of unsorted samples (ms). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function mean(samples: number[]): number {
  return samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : Number.NaN;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
