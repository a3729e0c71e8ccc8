/**
 * What a compared workload is: a name, a target ratio and one measurement
 * round against one server URL. Rounds are interleaved baseline, Gatehouse,
 * Gatehouse, baseline (see lib/compare.ts), each taking `share` of the run length.
 */
import type { AnswerTally } from '../lib/answers.ts';
import type { Measurement } from '../lib/stats.ts';

export interface RoundOptions {
  /** Warm up first (the first round against each server). */
  warmup: boolean;
  /** Fraction of the workload's run length this round takes. */
  share: number;
}

export interface WorkloadRun {
  numbers: Measurement;
  /** Raw latencies (ms) when the workload has them, so rounds merge exactly. */
  latencies?: number[];
  /** Further named latency series (ms), e.g. one per login step; merged and summarised per server. */
  series?: Record<string, number[]>;
  /** Anything else worth keeping in latest.json (headers seen...). */
  details?: Record<string, unknown>;
}

export interface Workload {
  name: string;
  /** Minimum gatehouse/baseline throughput ratio; null when the row is for information (no target set). */
  target: number | null;
  /** Untimed setup on one server before any round (e.g. registering clients); may return a note for the log. */
  prepare?(url: string): Promise<string | void>;
  measure(url: string, round: RoundOptions): Promise<WorkloadRun>;
}

/** A workload whose answers are not all successes: it tallies them per server (every timed round). */
export interface TalliedWorkload extends Workload {
  tally(side: 'gatehouse' | 'baseline'): Readonly<AnswerTally>;
}

/** Run lengths per server (split over its rounds); `--quick` shrinks them for a smoke run. */
export interface Durations {
  httpSec: number;
  httpWarmupSec: number;
  loginMs: number;
  loginWarmupMs: number;
}

export const fullDurations: Durations = { httpSec: 12, httpWarmupSec: 3, loginMs: 20_000, loginWarmupMs: 4_000 };
export const quickDurations: Durations = { httpSec: 4, httpWarmupSec: 1, loginMs: 4_000, loginWarmupMs: 1_000 };
