/**
 * Runs one workload against both servers in interleaved rounds (baseline,
 * Gatehouse, Gatehouse, baseline: drift in the machine's load then weighs on
 * both alike), or several whose rounds alternate (`compareTogether`);
 * combines each server's rounds and turns them into a report row: the ratio of
 * throughputs against the target. A failure is kept in the row
 * (and fails the run), not thrown.
 */
import { loadavg } from 'node:os';
import type { Workload, WorkloadRun } from '../workloads/types.ts';
import type { ChildServer } from './child-server.ts';
import { serverNumbers, type WorkloadReport } from './report.ts';
import { mean, percentile, round, type Measurement } from './stats.ts';
import { fmt } from './table.ts';

type Side = 'gatehouse' | 'baseline';
const order: Side[] = ['baseline', 'gatehouse', 'gatehouse', 'baseline'];
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Throughput over the summed time; percentiles exact from raw latencies, else count-weighted. */
function combine(runs: WorkloadRun[]): Measurement {
  const count = runs.reduce((n, r) => n + r.numbers.count, 0);
  const elapsedSec = runs.reduce((n, r) => n + r.numbers.elapsedSec, 0);
  const raw = runs.every((r) => r.latencies) ? runs.flatMap((r) => r.latencies ?? []) : undefined;
  const weighted = (pick: (m: Measurement) => number) => runs.reduce((n, r) => n + pick(r.numbers) * r.numbers.count, 0) / Math.max(1, count);
  return {
    rps: count / elapsedSec,
    p50ms: raw ? percentile(raw, 50) : weighted((m) => m.p50ms),
    p99ms: raw ? percentile(raw, 99) : weighted((m) => m.p99ms),
    count,
    elapsedSec,
  };
}

function summariseSeries(runs: WorkloadRun[]): Record<string, { meanMs: number; p99Ms: number }> | undefined {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.series ?? {})))];
  if (names.length === 0) return undefined;
  return Object.fromEntries(
    names.map((name) => {
      const all = runs.flatMap((r) => r.series?.[name] ?? []);
      return [name, { meanMs: round(mean(all)), p99Ms: round(percentile(all, 99)) }];
    }),
  );
}

export async function compare(workload: Workload, gatehouse: ChildServer, baseline: ChildServer): Promise<WorkloadReport> {
  const [row] = await compareTogether([workload], gatehouse, baseline);
  return row!;
}

/**
 * Several workloads whose Gatehouse rates are compared with each other (one
 * client against many): their rounds alternate (baseline A, B; Gatehouse A, B;
 * Gatehouse A, B; baseline A, B), so each pair is measured under the same load.
 * Each workload's untimed `prepare` runs first, on both servers. A workload
 * that fails stops its own rounds; the others go on.
 */
export async function compareTogether(workloads: Workload[], gatehouse: ChildServer, baseline: ChildServer): Promise<WorkloadReport[]> {
  const rows = workloads.map((w): WorkloadReport => ({ name: w.name, gatehouse: null, baseline: null, ratio: null, target: w.target, meetsTarget: false }));
  const runs = workloads.map((): Record<Side, WorkloadRun[]> => ({ gatehouse: [], baseline: [] }));
  const loads = workloads.map((): Record<Side, number[]> => ({ gatehouse: [], baseline: [] }));
  const share = 1 / order.filter((s) => s === 'gatehouse').length;
  const fail = (i: number, side: Side, err: unknown) => {
    rows[i]!.error = `${side}: ${message(err)}`;
    process.stdout.write(`FAILED\n    ${message(err)}\n`);
  };
  for (const [i, workload] of workloads.entries()) {
    if (!workload.prepare) continue;
    for (const side of ['baseline', 'gatehouse'] as const) {
      process.stdout.write(`  ${workload.name} @ ${side}: preparing ... `);
      const t0 = performance.now();
      try {
        const note = await workload.prepare((side === 'gatehouse' ? gatehouse : baseline).url);
        process.stdout.write(`${note ? `${note}, ` : ''}${fmt((performance.now() - t0) / 1000)} s\n`);
      } catch (err) {
        fail(i, side, err);
        break;
      }
    }
  }
  for (const side of order) {
    const server = side === 'gatehouse' ? gatehouse : baseline;
    for (const [i, workload] of workloads.entries()) {
      if (rows[i]!.error) continue;
      process.stdout.write(`  ${workload.name} @ ${side} ... `);
      try {
        const run = await workload.measure(server.url, { warmup: runs[i]![side].length === 0, share });
        runs[i]![side].push(run);
        // The 1-minute load average as the round ends: other work on the machine skews a comparison.
        loads[i]![side].push(round(loadavg()[0] ?? 0, 2));
        process.stdout.write(
          `${fmt(run.numbers.rps)}/s p50 ${fmt(run.numbers.p50ms)} ms p99 ${fmt(run.numbers.p99ms)} ms (n=${run.numbers.count}, load ${fmt(loads[i]![side].at(-1), 1)})\n`,
        );
      } catch (err) {
        fail(i, side, err);
      }
    }
  }
  for (const [i, workload] of workloads.entries()) {
    const row = rows[i]!;
    if (row.error) continue;
    const details: NonNullable<WorkloadReport['details']> = {};
    for (const side of ['gatehouse', 'baseline'] as const) {
      const sideRuns = runs[i]![side];
      row[side] = serverNumbers(combine(sideRuns));
      const steps = summariseSeries(sideRuns);
      details[side] = {
        ...sideRuns.at(-1)?.details,
        ...(steps ? { steps } : {}),
        rounds: sideRuns.map((r) => round(r.numbers.rps, 1)),
        load1: loads[i]![side],
      };
    }
    if (row.gatehouse && row.baseline && row.baseline.rps > 0) {
      row.ratio = round(row.gatehouse.rps / row.baseline.rps, 3);
      row.meetsTarget = workload.target !== null && row.ratio >= workload.target;
    }
    row.details = details;
  }
  return rows;
}
