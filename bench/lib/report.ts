/**
 * The shape of bench/results/latest.json and the summary printed at the end.
 * Written to a .tmp file first and renamed, so a crash never leaves half a file.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RaceReport } from '../workloads/first-login.ts';
import type { OverloadReport } from '../workloads/overload.ts';
import type { MixedReport } from '../workloads/mixed-load.ts';
import type { RegistrationCount } from '../workloads/registration.ts';
import type { Side } from '../workloads/types.ts';
import { round, type Measurement } from './stats.ts';
import { fmt, renderTable } from './table.ts';

export interface ServerNumbers {
  rps: number;
  p50ms: number;
  p99ms: number;
  count: number;
}

export interface WorkloadReport {
  name: string;
  gatehouse: ServerNumbers | null;
  /** The bare oidc-provider on its in-memory adapter (for the first login: Gatehouse's plain login). */
  baseline: ServerNumbers | null;
  /** The same bare oidc-provider on a minimal SQLite adapter (baseline/durable-adapter.ts); absent in older files. */
  durable?: ServerNumbers | null;
  /** Gatehouse with 2 worker processes (`serve --workers 2`), on the workloads that measure scaling. */
  workers?: ServerNumbers | null;
  /** Gatehouse / in-memory baseline. */
  ratio: number | null;
  /** Gatehouse / durable baseline. */
  ratioDurable?: number | null;
  /** Gatehouse with 2 workers / Gatehouse with 1 (printed, never a target: the load generator shares the cores). */
  workersRatio?: number | null;
  /** Minimum `ratio`; null: none (for information). */
  target: number | null;
  /** Minimum `ratioDurable`; null or absent: none. */
  targetDurable?: number | null;
  /** Every target the row has is met (false when it has none). */
  meetsTarget: boolean;
  details?: Partial<Record<Side, Record<string, unknown>>>;
  error?: string;
}

export interface RssReport {
  idleMB: number | null;
  peakMB: number | null;
  /** The workload that was running when the peak was first read (bench/lib/rss.ts); null when nothing was read. */
  peakDuring?: string | null;
  /** The peak read while each workload ran, in run order (RSS kept from an earlier one counts in the later ones too). */
  peakByPhase?: Record<string, number>;
}

/** One line of the final list of targets: what was measured against what it should reach. */
export interface TargetResult {
  name: string;
  /** The measured value (a ratio, megabytes, or for a check 1 = holds, 0 = does not); null when not measured. */
  value: number | null;
  target: number;
  /** `>=`: the value must reach the target; `<=`: it must stay under it. */
  op: '>=' | '<=';
  unit?: string;
  met: boolean;
  note?: string;
}

export interface WorkersScalingRow {
  name: string;
  oneWorkerRps: number;
  twoWorkersRps: number;
  /** twoWorkersRps / oneWorkerRps. */
  ratio: number;
}

export interface WorkersScalingReport {
  workers: number;
  cores: number;
  note: string;
  rows: WorkersScalingRow[];
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; node: string; loadavgAtStart: number[]; loadavgAtEnd: number[] };
  workloads: WorkloadReport[];
  /** Every target of the run, met or missed (the same list the summary ends with). */
  targets: TargetResult[];
  overload: { gatehouse: OverloadReport | null; baseline: OverloadReport | null; error?: string | undefined };
  /** K-use invitation, 30 concurrent first logins: how many got in (303) and how many were told it is used up (409). */
  race?: RaceReport | { error: string } | undefined;
  /** client_credentials taking turns over many registered clients against one static client, each server against itself, same run. */
  rotating?: RotatingReport | { error: string } | undefined;
  /** The registration workload's one counted token: its uses after the run against the 201 answers. */
  registration?: RegistrationCount | { error: string } | undefined;
  /** Device grant polling over many pending codes: capacity, answers by OAuth error, slow_down apart. */
  devicePolling?: DevicePollingReport | { error: string } | undefined;
  /** POST /api/register-device (Gatehouse) beside the baselines' own /reg: rates and every non-2xx. */
  registerDevice?: RegisterDeviceReport | { error: string } | undefined;
  /** client_credentials and the login round trip on Gatehouse with 2 worker processes against 1 (printed, not asserted). */
  workersScaling?: WorkersScalingReport | { error: string } | undefined;
  /** Gatehouse alone on SQLite under the mixed workload: per operation, 5xx answers and SQLITE_BUSY lines in its log. */
  mixed?: (MixedReport & { busyLines: number }) | { error: string } | undefined;
  rss: { gatehouse: RssReport; baseline: RssReport; durable?: RssReport };
  durationSeconds: number;
}

export interface RotatingSide {
  singleRps: number;
  rotatingRps: number;
  ratio: number;
}

export interface RotatingReport {
  clients: number;
  /** Gatehouse rotating / Gatehouse single client must reach this. */
  target: number;
  meetsTarget: boolean;
  gatehouse: RotatingSide;
  /** The same ratio for the baselines, for scale (what oidc-provider itself loses to many clients). */
  baseline: RotatingSide;
  durable?: RotatingSide | undefined;
}

export interface DevicePollingSide {
  pollsPerSec: number;
  p99ms: number;
  /** Answers of the timed rounds by status and OAuth error ("400 authorization_pending"...). */
  answers: Record<string, number>;
  slowDown: number;
  connectionErrors: number;
  /** pollsPerSec x intervalSec / cores: devices one core keeps answering, each polling every intervalSec. */
  pendingDevicesPerCore: number;
  /** Device authorizations per second while setting up the codes (untimed, 16 at a time). */
  authorizationsPerSec: number | null;
  /** `interval` in the device authorization response (oidc-provider sends none). */
  interval: number | null;
}

export interface DevicePollingReport {
  codes: number;
  intervalSec: number;
  cores: number;
  /** Gatehouse polls/s over the in-memory baseline's must reach this. */
  target: number;
  ratio: number;
  ratioDurable?: number | null;
  meetsTarget: boolean;
  gatehouse: DevicePollingSide;
  baseline: DevicePollingSide;
  durable?: DevicePollingSide | undefined;
}

export interface RegisterDeviceSide {
  /** 201 answers per second (Gatehouse: enrollments; baselines: registrations at their /reg). */
  createdPerSec: number;
  p99ms: number;
  answers: Record<string, number>;
  non2xx: number;
  connectionErrors: number;
}

export interface RegisterDeviceReport {
  /** Against the in-memory baseline's /reg, for information. */
  ratio: number | null;
  /** Against the durable baseline's /reg: the target. */
  ratioDurable?: number | null;
  targetDurable?: number | null;
  meetsTarget?: boolean;
  gatehouse: RegisterDeviceSide;
  baseline: RegisterDeviceSide;
  durable?: RegisterDeviceSide | undefined;
}

export function serverNumbers(m: Measurement): ServerNumbers {
  return { rps: round(m.rps, 1), p50ms: round(m.p50ms), p99ms: round(m.p99ms), count: m.count };
}

export async function writeReport(file: string, report: BenchReport): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await rename(tmp, file);
}

const met = (ok: boolean) => (ok ? 'MET' : 'MISSED');

/** The row's targets as `mem >= 0.75; dur >= 0.95` and, in the same order, `MET; MISSED`. */
function targetCells(w: WorkloadReport): [string, string] {
  if (w.error) return [targetText(w), 'FAILED'];
  const results: string[] = [];
  if (w.target !== null) results.push(met(w.ratio !== null && w.ratio >= w.target));
  if (w.targetDurable != null) results.push(met(w.ratioDurable != null && w.ratioDurable >= w.targetDurable));
  return [targetText(w), results.length ? results.join('; ') : 'info'];
}

function targetText(w: WorkloadReport): string {
  const parts: string[] = [];
  if (w.target !== null) parts.push(`mem >= ${w.target.toFixed(2)}`);
  if (w.targetDurable != null) parts.push(`dur >= ${w.targetDurable.toFixed(2)}`);
  return parts.length ? parts.join('; ') : '-';
}

/** The final list: every target of the run, one line each. */
export function targetList(targets: TargetResult[]): string {
  const digits = (t: TargetResult) => (t.unit === 'MB' ? 1 : 2);
  const measured = (t: TargetResult) => {
    if (t.value === null) return 'not measured';
    // A check (unit `check`): holds or not, no number.
    if (t.unit === 'check') return t.met ? 'holds' : 'DOES NOT HOLD';
    const unit = t.unit ? ` ${t.unit}` : '';
    return `${t.value.toFixed(digits(t))}${unit} (target ${t.op} ${t.target.toFixed(digits(t))}${unit})`;
  };
  const lines = targets.map((t) => `  ${met(t.met).padEnd(6)}  ${t.name}: ${measured(t)}${t.note ? `; ${t.note}` : ''}`);
  return [`targets (${targets.filter((t) => t.met).length} of ${targets.length} met):`, ...lines].join('\n');
}

export function summary(report: BenchReport): string {
  const rows = report.workloads.map((w) => [
    w.name,
    fmt(w.gatehouse?.rps),
    fmt(w.gatehouse?.p50ms),
    fmt(w.gatehouse?.p99ms),
    fmt(w.baseline?.rps),
    fmt(w.baseline?.p99ms),
    fmt(w.durable?.rps),
    fmt(w.durable?.p99ms),
    fmt(w.ratio, 2),
    fmt(w.ratioDurable, 2),
    ...targetCells(w),
  ]);
  const main = renderTable(
    ['workload', 'GH req/s', 'GH p50', 'GH p99', 'MEM req/s', 'MEM p99', 'DUR req/s', 'DUR p99', 'GH/MEM', 'GH/DUR', 'target', 'result'],
    rows,
  );
  const o = report.overload.gatehouse;
  const overload = o
    ? `overload (${o.burst} concurrent login POSTs at Gatehouse): 303=${o.accepted303} 503=${o.rejected503} 401=${o.invalid401} 500=${o.server500}` +
      ` network errors=${o.networkErrors}; all answered in ${o.burstSeconds}s` +
      ` (${Object.entries(o.byStatus)
        .map(([status, l]) => `${status}: p50 ${fmt(l.p50ms, 0)} ms, max ${fmt(l.maxMs, 0)} ms`)
        .join('; ')});` +
      ` ${o.server500 === 0 && o.networkErrors === 0 ? 'no 500s' : 'FAILED: 500s or dropped connections'};` +
      ` ${o.recovered ? 'logins work right after' : `NOT RECOVERED: ${o.recoveryError ?? ''}`}`
    : `overload: ${report.overload.error ?? 'not run'}`;
  const b = report.overload.baseline;
  const baselineOverload = b
    ? `  (in-memory baseline, no limiter: 303=${b.accepted303} others=${b.burst - b.accepted303}, all answered in ${b.burstSeconds}s, max ${b.maxMs} ms)`
    : '';
  const r = report.race;
  const race = !r
    ? 'race: not run'
    : 'error' in r
      ? `race: FAILED ${r.error}`
      : `race (token maxUsers ${r.maxUsers}, ${r.attempts} concurrent first logins): admitted ${r.admitted}, used up (409) ${r.usedUp}` +
        `${Object.keys(r.other).length ? `, other ${JSON.stringify(r.other)}` : ''}; exactly K winners: ${r.admitted === r.maxUsers && r.usedUp === r.attempts - r.maxUsers ? 'yes' : 'no'}`;
  const rot = report.rotating;
  const rotating = !rot
    ? []
    : 'error' in rot
      ? [`rotating vs single client: FAILED ${rot.error}`]
      : [
          `client_credentials over ${rot.clients} rotating registered clients vs one static client, same run: Gatehouse ${fmt(rot.gatehouse.rotatingRps)}/s vs ${fmt(rot.gatehouse.singleRps)}/s` +
            ` = ${fmt(rot.gatehouse.ratio, 2)} (target >= ${rot.target.toFixed(2)}) ${met(rot.meetsTarget)};` +
            ` in-memory baseline ${fmt(rot.baseline.rotatingRps)}/s vs ${fmt(rot.baseline.singleRps)}/s = ${fmt(rot.baseline.ratio, 2)}` +
            (rot.durable ? `; durable baseline ${fmt(rot.durable.rotatingRps)}/s vs ${fmt(rot.durable.singleRps)}/s = ${fmt(rot.durable.ratio, 2)}` : ''),
        ];
  const reg = report.registration;
  const codes = (statuses: Record<string, number>) => (Object.keys(statuses).length ? JSON.stringify(statuses) : 'none');
  const registration = !reg
    ? []
    : 'error' in reg
      ? [`registration count: FAILED ${reg.error}`]
      : [
          `registration (one token for ${reg.tokenCount} clients): Gatehouse answered 201 ${reg.created} times, the token's uses (CLI) ${reg.uses}: ` +
            `${reg.countExact ? 'count exact' : 'COUNT NOT EXACT'}${reg.allAnswered ? '' : ' (some requests got no answer: connection errors or a safety stop)'};` +
            ` non-2xx: Gatehouse ${codes(reg.non2xx.gatehouse)}, in-memory baseline ${codes(reg.non2xx.baseline)}` +
            (reg.non2xx.durable ? `, durable baseline ${codes(reg.non2xx.durable)}` : ''),
        ];
  const dp = report.devicePolling;
  const pollSide = (name: string, p: DevicePollingSide) =>
    `${name} ${fmt(p.pollsPerSec)} polls/s (p99 ${fmt(p.p99ms)} ms) = ${p.pendingDevicesPerCore} pending devices per core` +
    ` at a ${dp && !('error' in dp) ? dp.intervalSec : '?'} s interval; answers ${codes(p.answers)}${p.connectionErrors ? `, ${p.connectionErrors} connection errors` : ''}` +
    `; setup ${fmt(p.authorizationsPerSec)} device authorizations/s, interval ${p.interval ?? 'not sent'}`;
  const devicePolling = !dp
    ? []
    : 'error' in dp
      ? [`device polling: FAILED ${dp.error}`]
      : [
          `device polling over ${dp.codes} pending codes (${dp.cores} core each, single-threaded Node): Gatehouse/in-memory ${fmt(dp.ratio, 2)} (target >= ${dp.target.toFixed(2)})` +
            ` ${met(dp.meetsTarget)}, Gatehouse/durable ${fmt(dp.ratioDurable, 2)}` +
            `${dp.gatehouse.slowDown > 0 ? `; ${dp.gatehouse.slowDown} slow_down answers at Gatehouse (codes polled sooner than 1 s: too few codes for this rate)` : '; no slow_down'}`,
          `  ${pollSide('Gatehouse', dp.gatehouse)}`,
          `  ${pollSide('in-memory', dp.baseline)}`,
          ...(dp.durable ? [`  ${pollSide('durable', dp.durable)}`] : []),
        ];
  const rd = report.registerDevice;
  const nonOk = (name: string, side: RegisterDeviceSide) => `${name} ${side.non2xx}${side.non2xx ? ` ${codes(side.answers)}` : ''}`;
  const registerDevice = !rd
    ? []
    : 'error' in rd
      ? [`register-device: FAILED ${rd.error}`]
      : [
          `register-device (the baselines register at their own /reg): Gatehouse ${fmt(rd.gatehouse.createdPerSec)} enrollments/s (p99 ${fmt(rd.gatehouse.p99ms)} ms),` +
            ` in-memory ${fmt(rd.baseline.createdPerSec)} registrations/s (p99 ${fmt(rd.baseline.p99ms)} ms) = ${fmt(rd.ratio, 2)}` +
            (rd.durable
              ? `, durable ${fmt(rd.durable.createdPerSec)} registrations/s (p99 ${fmt(rd.durable.p99ms)} ms) = ${fmt(rd.ratioDurable, 2)}` +
                ` (target >= ${fmt(rd.targetDurable, 2)}) ${met(rd.meetsTarget === true)}`
              : '') +
            `; non-2xx: ${nonOk('Gatehouse', rd.gatehouse)}, ${nonOk('in-memory', rd.baseline)}${rd.durable ? `, ${nonOk('durable', rd.durable)}` : ''}` +
            `${rd.gatehouse.connectionErrors + rd.baseline.connectionErrors + (rd.durable?.connectionErrors ?? 0) ? `; connection errors: Gatehouse ${rd.gatehouse.connectionErrors}, in-memory ${rd.baseline.connectionErrors}, durable ${rd.durable?.connectionErrors ?? 0}` : ''}`,
        ];
  const ws = report.workersScaling;
  const workers = !ws
    ? []
    : 'error' in ws
      ? [`workers scaling: FAILED ${ws.error}`]
      : [
          `workers scaling (Gatehouse \`serve --workers ${ws.workers}\` against one process, same run): ${ws.note}`,
          ...ws.rows.map(
            (row) => `  ${row.name}: 1 worker ${fmt(row.oneWorkerRps)}/s, ${ws.workers} workers ${fmt(row.twoWorkersRps)}/s = ${fmt(row.ratio, 2)}x`,
          ),
        ];
  const rssRow = (name: string, rss: RssReport | undefined) => [name, fmt(rss?.idleMB), fmt(rss?.peakMB), rss?.peakDuring ?? '-'];
  const rss = renderTable(
    ['RSS (MB)', 'idle', 'peak', 'peak during'],
    [rssRow('gatehouse', report.rss.gatehouse), rssRow('in-memory baseline', report.rss.baseline), rssRow('durable baseline', report.rss.durable)],
  );
  const failures = report.workloads.filter((w) => w.error).map((w) => `FAILED ${w.name}: ${w.error}`);
  const header = (w: WorkloadReport, side: Side) => {
    const value = w.details?.[side]?.cacheControl;
    return typeof value === 'string' ? value : 'none';
  };
  const caching = report.workloads
    .filter((w) => w.details?.gatehouse && 'cacheControl' in w.details.gatehouse)
    .map((w) => `Cache-Control on ${w.name}: Gatehouse "${header(w, 'gatehouse')}", in-memory "${header(w, 'baseline')}", durable "${header(w, 'durable')}"`);
  // The bench itself keeps about two processes busy (driver and server); more than that is someone else's work.
  const roundLoads = report.workloads.flatMap((w) =>
    Object.values(w.details ?? {}).flatMap((side) => {
      const loads = side?.load1;
      return Array.isArray(loads) ? loads.filter((l): l is number => typeof l === 'number') : [];
    }),
  );
  const busiest = Math.max(0, ...roundLoads);
  const busy = (report.machine.loadavgAtStart[0] ?? 0) > report.machine.cpus || busiest > report.machine.cpus + 2;
  const warning = busy
    ? [
        `WARNING: the machine was busy (load average ${(report.machine.loadavgAtStart[0] ?? 0).toFixed(1)} at start, up to ${busiest.toFixed(1)} during the runs, ` +
          `${report.machine.cpus} CPUs, the bench itself accounting for about 2): ratios are unreliable, run again on a quiet machine.`,
      ]
    : [];
  return [
    ...warning,
    main,
    '(latencies in ms; GH = Gatehouse on SQLite, MEM = bare oidc-provider in-memory, DUR = bare oidc-provider on a minimal SQLite adapter)',
    ...(report.workloads.some((w) => w.name === 'first login with token')
      ? ['(first login with token: GH = first logins presenting acl_token, manual gating; MEM = Gatehouse plain login, same run)']
      : []),
    ...caching,
    ...(rotating.length || registration.length || devicePolling.length || registerDevice.length || workers.length
      ? ['', ...rotating, ...registration, ...devicePolling, ...registerDevice, ...workers]
      : []),
    '',
    overload,
    baselineOverload,
    race,
    '',
    rss,
    ...failures,
    '',
    targetList(report.targets),
  ].join('\n');
}
