/** What a compared workload is: a name, a target ratio and one measurement against one server URL. */
import type { Measurement } from '../lib/stats.ts';

export interface WorkloadRun {
  numbers: Measurement;
  /** Anything else worth keeping in latest.json (headers seen, per-step times...). */
  details?: Record<string, unknown>;
}

export interface Workload {
  name: string;
  /** Minimum gatehouse/baseline throughput ratio. */
  target: number;
  measure(url: string): Promise<WorkloadRun>;
}

/** Run lengths; `--quick` shrinks them for a smoke run. */
export interface Durations {
  httpSec: number;
  httpWarmupSec: number;
  loginMs: number;
  loginWarmupMs: number;
}

export const fullDurations: Durations = { httpSec: 12, httpWarmupSec: 3, loginMs: 20_000, loginWarmupMs: 4_000 };
export const quickDurations: Durations = { httpSec: 3, httpWarmupSec: 1, loginMs: 4_000, loginWarmupMs: 1_000 };
