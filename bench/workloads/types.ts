/**
 * What a compared workload is: a name, its target ratios and one measurement
 * round against one server URL. Rounds are interleaved in a mirrored order
 * (in-memory baseline, durable baseline, Gatehouse, Gatehouse, durable,
 * in-memory: see lib/compare.ts), each taking `share` of the run length.
 */
import type { AnswerTally } from '../lib/answers.ts';
import type { Measurement } from '../lib/stats.ts';

/**
 * The servers a workload is compared on: `baseline` the bare oidc-provider on
 * its in-memory adapter, `durable` the same on a minimal SQLite adapter,
 * `gatehouse` Gatehouse (one process), `workers` Gatehouse with 2 worker
 * processes (`serve --workers 2`, for the scaling figure only).
 */
export type Side = 'baseline' | 'durable' | 'gatehouse' | 'workers';
export const sides: readonly Side[] = ['baseline', 'durable', 'gatehouse', 'workers'];

export interface RoundOptions {
  /** Which server this round is against. */
  side: Side;
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
  /** Minimum Gatehouse / in-memory baseline throughput ratio; null when there is none (for information). */
  target: number | null;
  /** Minimum Gatehouse / durable baseline throughput ratio; null or absent when there is none. */
  targetDurable?: number | null;
  /** The sides it runs on (of those the comparison has); absent: all of them. */
  sides?: readonly Side[];
  /**
   * Twice the run's mirrored passes (lib/compare.ts), each round half as long: for the
   * workloads whose rounds swing most on this machine against a margin of a few per cent.
   */
  finerRounds?: boolean;
  /** Untimed setup on one server before any round (e.g. registering clients); may return a note for the log. */
  prepare?(url: string, side: Side): Promise<string | void>;
  measure(url: string, round: RoundOptions): Promise<WorkloadRun>;
}

/** A workload whose answers are not all successes: it tallies them per server (every timed round). */
export interface TalliedWorkload extends Workload {
  tally(side: Side): Readonly<AnswerTally>;
}

/** Run lengths per server (split over its rounds); `--quick` shrinks them for a smoke run. */
export interface Durations {
  httpSec: number;
  httpWarmupSec: number;
  loginMs: number;
  loginWarmupMs: number;
}

export const fullDurations: Durations = { httpSec: 12, httpWarmupSec: 3, loginMs: 24_000, loginWarmupMs: 4_000 };
/** --quick: one-second rounds, enough to check that every workload runs and every number is reported (three or four servers each). */
export const quickDurations: Durations = { httpSec: 2, httpWarmupSec: 1, loginMs: 3_000, loginWarmupMs: 1_000 };
