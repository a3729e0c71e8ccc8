/**
 * Runs one workload against every server of a comparison in interleaved
 * rounds, in a mirrored order (in-memory baseline, durable baseline,
 * Gatehouse, [Gatehouse with 2 workers, twice,] Gatehouse, durable, in-memory,
 * and that again: drift in the machine's load then weighs on all alike), or several whose
 * rounds alternate (`compareTogether`); combines each server's rounds and
 * turns them into a report row: Gatehouse's throughput against each baseline
 * (`ratio` against the in-memory one, `ratioDurable` against the durable one),
 * each against its target, and 2 workers against 1 (`workersRatio`, printed,
 * never a target). A failure is kept in the row (and fails the run), not thrown.
 */
import { loadavg } from 'node:os';
import { sides as allSides, type Side, type Workload, type WorkloadRun } from '../workloads/types.ts';
import type { ChildServer } from './child-server.ts';
import { serverNumbers, type ServerNumbers, type WorkloadReport } from './report.ts';
import { mean, percentile, round, type Measurement } from './stats.ts';
import { fmt } from './table.ts';

/** The servers of one comparison, by side; `gatehouse` is always there, the others when given. */
export type Servers = Partial<Record<Side, ChildServer>> & { gatehouse: ChildServer };

/**
 * How many times the mirrored order is run (each round then takes 1 / (2 ×
 * passes) of a server's run length): more, shorter rounds spread the machine's
 * drift over every server alike. The full run takes 2 (four rounds per server),
 * `--quick` 1; a workload with `finerRounds` twice that (eight rounds per
 * server, each half as long: its whole run length is unchanged).
 */
let passes = 2;
export function useMirroredPasses(n: number): void {
  passes = Math.max(1, Math.floor(n));
}

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

const ratioOf = (a: ServerNumbers | null | undefined, b: ServerNumbers | null | undefined) => (a && b && b.rps > 0 ? round(a.rps / b.rps, 3) : null);

/** Every target the row has, met? (A target whose ratio could not be measured is missed.) */
export function rowMeetsTargets(row: WorkloadReport): boolean {
  const checks: boolean[] = [];
  if (row.target !== null) checks.push(row.ratio !== null && row.ratio >= row.target);
  if (row.targetDurable != null) checks.push(row.ratioDurable != null && row.ratioDurable >= row.targetDurable);
  return checks.length > 0 && checks.every(Boolean);
}

export async function compare(workload: Workload, servers: Servers): Promise<WorkloadReport> {
  const [row] = await compareTogether([workload], servers);
  return row!;
}

/**
 * Several workloads whose Gatehouse rates are compared with each other (one
 * client against many): their rounds alternate (in-memory A, B; durable A, B;
 * Gatehouse A, B; Gatehouse A, B; durable A, B; in-memory A, B), so each pair
 * is measured under the same load. Each workload's untimed `prepare` runs
 * first, on every server it runs on. A workload that fails stops its own
 * rounds; the others go on.
 */
export async function compareTogether(workloads: Workload[], servers: Servers): Promise<WorkloadReport[]> {
  const present = allSides.filter((side) => servers[side]);
  const times = workloads.some((w) => w.finerRounds) ? passes * 2 : passes;
  // Mirrored: every server gets one round in each half, the earlier ones first in the first half and last in the second; `times` over.
  const order: Side[] = Array.from({ length: times }, () => [...present, ...[...present].reverse()]).flat();
  const runsOn = (workload: Workload, side: Side) => present.includes(side) && (!workload.sides || workload.sides.includes(side));
  const rows = workloads.map((w): WorkloadReport => ({
    name: w.name,
    gatehouse: null,
    baseline: null,
    durable: null,
    ratio: null,
    ratioDurable: null,
    target: w.target,
    targetDurable: w.targetDurable ?? null,
    meetsTarget: false,
  }));
  const runs = workloads.map((): Partial<Record<Side, WorkloadRun[]>> => ({}));
  const loads = workloads.map((): Partial<Record<Side, number[]>> => ({}));
  const share = 1 / order.filter((s) => s === 'gatehouse').length;
  const fail = (i: number, side: Side, err: unknown) => {
    rows[i]!.error = `${side}: ${message(err)}`;
    process.stdout.write(`FAILED\n    ${message(err)}\n`);
  };
  for (const [i, workload] of workloads.entries()) {
    if (!workload.prepare) continue;
    for (const side of present) {
      if (!runsOn(workload, side)) continue;
      process.stdout.write(`  ${workload.name} @ ${side}: preparing ... `);
      const t0 = performance.now();
      try {
        const note = await workload.prepare(servers[side]!.url, side);
        process.stdout.write(`${note ? `${note}, ` : ''}${fmt((performance.now() - t0) / 1000)} s\n`);
      } catch (err) {
        fail(i, side, err);
        break;
      }
    }
  }
  for (const side of order) {
    const server = servers[side]!;
    for (const [i, workload] of workloads.entries()) {
      if (rows[i]!.error || !runsOn(workload, side)) continue;
      process.stdout.write(`  ${workload.name} @ ${side} ... `);
      const sideRuns = (runs[i]![side] ??= []);
      const sideLoads = (loads[i]![side] ??= []);
      try {
        const run = await workload.measure(server.url, { side, warmup: sideRuns.length === 0, share });
        sideRuns.push(run);
        // The 1-minute load average as the round ends: other work on the machine skews a comparison.
        sideLoads.push(round(loadavg()[0] ?? 0, 2));
        process.stdout.write(
          `${fmt(run.numbers.rps)}/s p50 ${fmt(run.numbers.p50ms)} ms p99 ${fmt(run.numbers.p99ms)} ms (n=${run.numbers.count}, load ${fmt(sideLoads.at(-1), 1)})\n`,
        );
      } catch (err) {
        fail(i, side, err);
      }
    }
  }
  for (const [i] of workloads.entries()) {
    const row = rows[i]!;
    if (row.error) continue;
    const details: NonNullable<WorkloadReport['details']> = {};
    for (const side of present) {
      const sideRuns = runs[i]![side];
      if (!sideRuns?.length) continue;
      row[side] = serverNumbers(combine(sideRuns));
      const steps = summariseSeries(sideRuns);
      details[side] = {
        ...sideRuns.at(-1)?.details,
        ...(steps ? { steps } : {}),
        rounds: sideRuns.map((r) => round(r.numbers.rps, 1)),
        load1: loads[i]![side] ?? [],
      };
    }
    row.ratio = ratioOf(row.gatehouse, row.baseline);
    row.ratioDurable = ratioOf(row.gatehouse, row.durable);
    if (row.workers) row.workersRatio = ratioOf(row.workers, row.gatehouse);
    row.meetsTarget = rowMeetsTargets(row);
    row.details = details;
  }
  return rows;
}
