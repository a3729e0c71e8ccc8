/**
 * A closed loop for multi-step flows: `concurrency` workers each run `once()`
 * back to back until the time budget or the operation cap is reached. The first
 * failure stops every worker and is rethrown (fail loudly, not average it away).
 */
import { percentile, type Measurement } from './stats.ts';

export interface LoopOptions {
  concurrency: number;
  durationMs: number;
  maxOperations: number;
}

export interface LoopResult extends Measurement {
  latencies: number[];
}

export async function closedLoop(options: LoopOptions, once: () => Promise<void>): Promise<LoopResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + options.durationMs;
  let issued = 0;
  let failure: unknown;

  const worker = async () => {
    while (failure === undefined && issued < options.maxOperations && performance.now() < deadline) {
      issued += 1;
      const t0 = performance.now();
      try {
        await once();
      } catch (err) {
        failure ??= err;
        return;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  if (failure !== undefined) throw failure;
  const elapsedSec = (performance.now() - started) / 1000;
  return {
    rps: latencies.length / elapsedSec,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    count: latencies.length,
    elapsedSec,
    latencies,
  };
}
