/**
 * Runs one workload against the baseline and then Gatehouse and turns the two
 * measurements into a report row: ratio of throughputs against the target.
 * A failure is kept in the row (and fails the run), not thrown.
 */
import { loadavg } from 'node:os';
import type { Workload } from '../workloads/types.ts';
import type { ChildServer } from './child-server.ts';
import { round } from './stats.ts';
import { serverNumbers, type WorkloadReport } from './report.ts';
import { fmt } from './table.ts';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function compare(workload: Workload, gatehouse: ChildServer, baseline: ChildServer): Promise<WorkloadReport> {
  const row: WorkloadReport = { name: workload.name, gatehouse: null, baseline: null, ratio: null, target: workload.target, meetsTarget: false };
  const details: NonNullable<WorkloadReport['details']> = {};
  for (const server of [baseline, gatehouse]) {
    const side = server === gatehouse ? 'gatehouse' : 'baseline';
    process.stdout.write(`  ${workload.name} @ ${side} ... `);
    try {
      const run = await workload.measure(server.url);
      row[side] = serverNumbers(run.numbers);
      // The 1-minute load average as the run ends: other work on the machine skews a comparison.
      const load1 = round(loadavg()[0] ?? 0, 2);
      details[side] = { ...run.details, load1 };
      process.stdout.write(`${fmt(run.numbers.rps)}/s p50 ${fmt(run.numbers.p50ms)} ms p99 ${fmt(run.numbers.p99ms)} ms (n=${run.numbers.count}, load ${fmt(load1, 1)})\n`);
    } catch (err) {
      row.error = `${side}: ${message(err)}`;
      process.stdout.write(`FAILED\n    ${message(err)}\n`);
      break;
    }
  }
  if (row.gatehouse && row.baseline && row.baseline.rps > 0) {
    row.ratio = round(row.gatehouse.rps / row.baseline.rps, 3);
    row.meetsTarget = row.ratio >= workload.target;
  }
  if (Object.keys(details).length) row.details = details;
  return row;
}
