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
  baseline: ServerNumbers | null;
  ratio: number | null;
  /** null: reported for information, no target set. */
  target: number | null;
  meetsTarget: boolean;
  details?: { gatehouse?: Record<string, unknown>; baseline?: Record<string, unknown> };
  error?: string;
}

export interface RssReport {
  idleMB: number | null;
  peakMB: number | null;
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; node: string; loadavgAtStart: number[]; loadavgAtEnd: number[] };
  workloads: WorkloadReport[];
  overload: { gatehouse: OverloadReport | null; baseline: OverloadReport | null; error?: string | undefined };
  /** K-use invitation, 30 concurrent first logins: how many got in (303) and how many were told it is used up (409). */
  race?: RaceReport | { error: string } | undefined;
  /** client_credentials taking turns over many registered clients against one static client, each server against itself, same run. */
  rotating?: RotatingReport | { error: string } | undefined;
  /** The registration workload's one counted token: its uses after the run against the 201 answers. */
  registration?: RegistrationCount | { error: string } | undefined;
  /** Device grant polling over many pending codes: capacity, answers by OAuth error, slow_down apart. */
  devicePolling?: DevicePollingReport | { error: string } | undefined;
  /** POST /api/register-device (Gatehouse) beside the baseline's own /reg: rates and every non-2xx. */
  registerDevice?: RegisterDeviceReport | { error: string } | undefined;
  /** Gatehouse alone on SQLite under the mixed workload: per operation, 5xx answers and SQLITE_BUSY lines in its log. */
  mixed?: (MixedReport & { busyLines: number }) | { error: string } | undefined;
  rss: { gatehouse: RssReport; baseline: RssReport };
  durationSeconds: number;
}

export interface RotatingReport {
  clients: number;
  /** Gatehouse rotating / Gatehouse single client must reach this. */
  target: number;
  meetsTarget: boolean;
  gatehouse: { singleRps: number; rotatingRps: number; ratio: number };
  /** The same ratio for the baseline, for scale (what oidc-provider itself loses to many clients). */
  baseline: { singleRps: number; rotatingRps: number; ratio: number };
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
  /** Gatehouse polls/s over the baseline's must reach this. */
  target: number;
  ratio: number;
  meetsTarget: boolean;
  gatehouse: DevicePollingSide;
  baseline: DevicePollingSide;
}

export interface RegisterDeviceSide {
  /** 201 answers per second (Gatehouse: enrollments; baseline: registrations at its /reg). */
  createdPerSec: number;
  p99ms: number;
  answers: Record<string, number>;
  non2xx: number;
  connectionErrors: number;
}

export interface RegisterDeviceReport {
  /** For information: the two servers do different things. */
  ratio: number | null;
  gatehouse: RegisterDeviceSide;
  baseline: RegisterDeviceSide;
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

export function summary(report: BenchReport): string {
  const rows = report.workloads.map((w) => [
    w.name,
    fmt(w.gatehouse?.rps),
    fmt(w.gatehouse?.p50ms),
    fmt(w.gatehouse?.p99ms),
    fmt(w.baseline?.rps),
    fmt(w.baseline?.p50ms),
    fmt(w.baseline?.p99ms),
    fmt(w.ratio, 2),
    w.target === null ? '-' : `>= ${w.target.toFixed(2)}`,
    w.error ? 'FAILED' : w.target === null ? 'info' : w.meetsTarget ? 'ok' : 'MISSED',
  ]);
  const main = renderTable(['workload', 'GH req/s', 'GH p50', 'GH p99', 'BL req/s', 'BL p50', 'BL p99', 'GH/BL', 'target', 'result'], rows);
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
    ? `  (baseline, no limiter: 303=${b.accepted303} others=${b.burst - b.accepted303}, all answered in ${b.burstSeconds}s, max ${b.maxMs} ms)`
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
            ` = ${fmt(rot.gatehouse.ratio, 2)} (target >= ${rot.target.toFixed(2)}) ${rot.meetsTarget ? 'ok' : 'MISSED'};` +
            ` baseline ${fmt(rot.baseline.rotatingRps)}/s vs ${fmt(rot.baseline.singleRps)}/s = ${fmt(rot.baseline.ratio, 2)}`,
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
            ` non-2xx: Gatehouse ${codes(reg.non2xx.gatehouse)}, baseline ${codes(reg.non2xx.baseline)}`,
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
          `device polling over ${dp.codes} pending codes (${dp.cores} core each, single-threaded Node): Gatehouse/baseline ${fmt(dp.ratio, 2)} (target >= ${dp.target.toFixed(2)})` +
            ` ${dp.meetsTarget ? 'ok' : 'MISSED'}${dp.gatehouse.slowDown > 0 ? `; ${dp.gatehouse.slowDown} slow_down answers at Gatehouse (codes polled sooner than 1 s: too few codes for this rate)` : '; no slow_down'}`,
          `  ${pollSide('Gatehouse', dp.gatehouse)}`,
          `  ${pollSide('baseline', dp.baseline)}`,
        ];
  const rd = report.registerDevice;
  const registerDevice = !rd
    ? []
    : 'error' in rd
      ? [`register-device: FAILED ${rd.error}`]
      : [
          `register-device (for information; the baseline registers at its own /reg): Gatehouse ${fmt(rd.gatehouse.createdPerSec)} enrollments/s (p99 ${fmt(rd.gatehouse.p99ms)} ms),` +
            ` baseline ${fmt(rd.baseline.createdPerSec)} registrations/s (p99 ${fmt(rd.baseline.p99ms)} ms) = ${fmt(rd.ratio, 2)};` +
            ` non-2xx: Gatehouse ${rd.gatehouse.non2xx}${rd.gatehouse.non2xx ? ` ${codes(rd.gatehouse.answers)}` : ''}, baseline ${rd.baseline.non2xx}${rd.baseline.non2xx ? ` ${codes(rd.baseline.answers)}` : ''}` +
            `${rd.gatehouse.connectionErrors + rd.baseline.connectionErrors ? `; connection errors: Gatehouse ${rd.gatehouse.connectionErrors}, baseline ${rd.baseline.connectionErrors}` : ''}`,
        ];
  const rss = renderTable(
    ['RSS (MB)', 'idle', 'peak'],
    [
      ['gatehouse', fmt(report.rss.gatehouse.idleMB), fmt(report.rss.gatehouse.peakMB)],
      ['baseline', fmt(report.rss.baseline.idleMB), fmt(report.rss.baseline.peakMB)],
    ],
  );
  const failures = report.workloads.filter((w) => w.error).map((w) => `FAILED ${w.name}: ${w.error}`);
  const header = (w: WorkloadReport, side: 'gatehouse' | 'baseline') => {
    const value = w.details?.[side]?.cacheControl;
    return typeof value === 'string' ? value : 'none';
  };
  const caching = report.workloads
    .filter((w) => w.details?.gatehouse && 'cacheControl' in w.details.gatehouse)
    .map((w) => `Cache-Control on ${w.name}: Gatehouse "${header(w, 'gatehouse')}", baseline "${header(w, 'baseline')}"`);
  // The bench itself keeps about two processes busy (driver and server); more than that is someone else's work.
  const roundLoads = report.workloads.flatMap((w) =>
    (['gatehouse', 'baseline'] as const).flatMap((side) => {
      const loads = w.details?.[side]?.load1;
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
    '(latencies in ms; GH = Gatehouse on SQLite, BL = bare oidc-provider, in-memory)',
    ...(report.workloads.some((w) => w.name === 'first login with token')
      ? ['(first login with token: GH = first logins presenting acl_token, manual gating; BL = Gatehouse plain login, same run)']
      : []),
    ...caching,
    ...(rotating.length || registration.length || devicePolling.length || registerDevice.length
      ? ['', ...rotating, ...registration, ...devicePolling, ...registerDevice]
      : []),
    '',
    overload,
    baselineOverload,
    race,
    '',
    rss,
    ...failures,
  ].join('\n');
}
