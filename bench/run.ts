/**
 * `npm run bench`: Gatehouse (SQLite) against two bare oidc-provider
 * baselines configured alike, each in its own process on 127.0.0.1: one on
 * oidc-provider's in-memory adapter, one ("durable") on a minimal SQLite
 * adapter (baseline/durable-adapter.ts). Workloads: client_credentials tokens
 * (one client, then 1000 registered clients taking turns), full login round
 * trips, discovery and JWKS, device grant polling over thousands of pending
 * device codes, dynamic client registration with one counted token, device
 * self-enrollment (POST /api/register-device), first logins with an invitation,
 * then an overload burst of login POSTs; client_credentials and the login
 * round trip also on a Gatehouse with 2 worker processes (`serve --workers 2`,
 * a scaling figure, printed); RSS of the servers at idle and at peak; last,
 * Gatehouse alone under a mixed load on SQLite (50 clients for 90 s: sign-ins,
 * first logins, tokens, refresh, introspection, registrations, device
 * enrolments; p99 per operation, 5xx and SQLITE_BUSY counted).
 * Prints a summary table and the list of targets (MET / MISSED), and writes
 * bench/results/latest.json.
 *
 * Exit code: 0 when every workload ran (a missed target is printed as MISSED,
 * 500s in the burst as FAILED), 1 when one failed to run, 2 when the whole run
 * hit its time limit.
 * `--quick` shortens every run, for checking the bench itself (nothing is saved).
 * `--only=mixed` runs the mixed SQLite workload alone (nothing is saved).
 * `--profile=DIR` writes a V8 CPU profile of the Gatehouse server to DIR
 * (open it in Chrome DevTools) to find which step is slow.
 */
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rotatingClientCount } from './fixtures.ts';
import { startChildServer, type ChildServer } from './lib/child-server.ts';
import { compare, compareTogether, useMirroredPasses, type Servers } from './lib/compare.ts';
import {
  summary,
  writeReport,
  type BenchReport,
  type DevicePollingReport,
  type RegisterDeviceReport,
  type RegisterDeviceSide,
  type RotatingReport,
  type RotatingSide,
  type RssReport,
  type TargetResult,
  type WorkersScalingReport,
  type WorkloadReport,
} from './lib/report.ts';
import { readRssMB, restingRss, RssSampler } from './lib/rss.ts';
import { round } from './lib/stats.ts';
import { fmt, renderTable } from './lib/table.ts';
import { clientCredentialsRotating } from './workloads/client-credentials-rotating.ts';
import { clientCredentials } from './workloads/client-credentials.ts';
import { devicePolling, slowDownAnswer, type DevicePollingWorkload } from './workloads/device-polling.ts';
import { firstAuthFrom, firstLogin, race } from './workloads/first-login.ts';
import { loginSteps } from './workloads/login-flow.ts';
import { login } from './workloads/login.ts';
import { discovery, jwks } from './workloads/metadata.ts';
import { overload, type OverloadReport } from './workloads/overload.ts';
import { devicesFrom, registerDevice } from './workloads/register-device.ts';
import { registration, registrationCount, registrationFrom } from './workloads/registration.ts';
import { mixedFrom, mixedLoad, mixedSummary } from './workloads/mixed-load.ts';
import { fullDurations, quickDurations, type Side, type TalliedWorkload } from './workloads/types.ts';

const quick = process.argv.includes('--quick');
const durations = quick ? quickDurations : fullDurations;
// Four shorter rounds per server in a full run (the mirrored order twice), two with --quick.
useMirroredPasses(quick ? 1 : 2);
const profileDir = process.argv.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
/** Concurrent login POSTs in the overload burst: past the hash queue (64 by default) and the hashes running, so some must get 503. */
const burst = quick ? 120 : 300;
/** Gatehouse's client_credentials rate over many rotating clients, as a share of its single-client rate. */
const rotatingTarget = 0.8;
/** Gatehouse's resident memory: at idle after start, and at its peak over the whole run. */
const rssIdleTargetMB = 150;
const rssPeakTargetMB = 300;
/** The worker processes of the scaling figure (`gatehouse serve --workers N`). */
const scalingWorkers = 2;
/**
 * Pending device codes the polling workload takes turns over: enough that, at
 * the rates reached here, each is polled less than once a second (Gatehouse's
 * bench interval), so it is asked authorization_pending, not slow_down. (5000
 * were too few once the machine served 6000 polls a second: every poll of
 * Gatehouse's was then a slow_down, the ratio measured the wrong answer.)
 */
const pendingDeviceCodes = quick ? 2000 : 12_000;
/** The interval "pending devices per core" is reported at (RFC 8628's default). */
const reportIntervalSec = 5;
/** Cores a server process can use: both are single-threaded Node. */
const serverCores = 1;
/** The device workloads run shorter than the others (their rates are steady), so the full run stays well within its time limit. */
const deviceDurations = quick ? durations : { ...durations, httpSec: 8, httpWarmupSec: 2 };
/** Discovery and JWKS are static documents with steady rates: short rounds. */
const metadataDurations = quick ? { ...durations, httpSec: 2, httpWarmupSec: 1 } : { ...durations, httpSec: 6, httpWarmupSec: 1 };
const onlyMixed = process.argv.includes('--only=mixed');
/** The mixed SQLite workload: clients, run length, and first-time accounts enough for every first login it may run. */
const mixedShape = quick ? { concurrency: 20, durationMs: 10_000, accounts: 500 } : { concurrency: 50, durationMs: 90_000, accounts: 3000 };
const timeLimitMs = 14 * 60 * 1000;
const resultsFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
const started = Date.now();
const loadAtStart = loadavg().map((l) => round(l, 2));
const servers: ChildServer[] = [];

const stopAll = () => Promise.allSettled(servers.map((s) => s.stop()));
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: time limit of ${timeLimitMs / 60000} min reached, stopping\n`);
  void stopAll().then(() => process.exit(2));
}, timeLimitMs);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopAll().then(() => process.exit(130)));
}

const mb = (value: number | null) => (value === null ? null : round(value, 1));
/** Idle and peak RSS of one server, the workload the peak fell in and each workload's own peak. */
const rssFrom = (idleMB: number | null, sampler: RssSampler): RssReport => {
  const peakMB = mb(sampler.stop());
  const peakByPhase = Object.fromEntries(Object.entries(sampler.peakByPhase).map(([name, value]) => [name, round(value, 1)]));
  return { idleMB: mb(idleMB), peakMB, peakDuring: sampler.peakDuring, peakByPhase };
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function stepTable(
  row: WorkloadReport,
  title = 'login step (ms)',
  columns: [Side, string][] = [
    ['gatehouse', 'GH'],
    ['baseline', 'MEM'],
    ['durable', 'DUR'],
  ],
): string {
  const number = (value: unknown, key: string): number | undefined => {
    if (typeof value !== 'object' || value === null || !(key in value)) return undefined;
    const found: unknown = (value as Record<string, unknown>)[key];
    return typeof found === 'number' ? found : undefined;
  };
  const step = (side: Side, name: string): unknown => {
    const steps = row.details?.[side]?.steps;
    return typeof steps === 'object' && steps !== null && name in steps ? (steps as Record<string, unknown>)[name] : undefined;
  };
  const shown = columns.filter(([side]) => row.details?.[side]);
  return renderTable(
    [title, ...shown.flatMap(([, label]) => [`${label} mean`, `${label} p99`])],
    loginSteps.map((s) => [s, ...shown.flatMap(([side]) => [fmt(number(step(side, s), 'meanMs')), fmt(number(step(side, s), 'p99Ms'))])]),
  );
}

/** Polls per second, p99 and answers per server; pending devices one core keeps answering at a 5 s interval. */
function devicePollingFrom(workloads: WorkloadReport[], workload: DevicePollingWorkload): BenchReport['devicePolling'] {
  const row = workloads.find((w) => w.name === workload.name);
  if (!row?.gatehouse || !row.baseline || row.ratio === null) return { error: `not measured (${row?.error ?? 'missing row'})` };
  const side = (s: Side) => {
    const numbers = row[s];
    if (!numbers) return undefined;
    const { answers, errors } = workload.tally(s);
    const setup = workload.setup(s);
    return {
      pollsPerSec: numbers.rps,
      p99ms: numbers.p99ms,
      answers: { ...answers },
      slowDown: answers[slowDownAnswer] ?? 0,
      connectionErrors: errors,
      pendingDevicesPerCore: Math.round((numbers.rps * reportIntervalSec) / serverCores),
      authorizationsPerSec: setup?.authorizationsPerSec ?? null,
      interval: setup?.interval ?? null,
    };
  };
  const report: DevicePollingReport = {
    codes: workload.codes,
    intervalSec: reportIntervalSec,
    cores: serverCores,
    target: workload.target ?? 0,
    ratio: row.ratio,
    ratioDurable: row.ratioDurable ?? null,
    meetsTarget: row.meetsTarget,
    gatehouse: side('gatehouse')!,
    baseline: side('baseline')!,
    durable: side('durable'),
  };
  return report;
}

/** Enrollments (201) per second, p99 and every answer per server; the baselines' are their own /reg registrations. */
function registerDeviceFrom(workloads: WorkloadReport[], workload: TalliedWorkload): BenchReport['registerDevice'] {
  const row = workloads.find((w) => w.name === workload.name);
  if (!row?.gatehouse || !row.baseline) return { error: `not measured (${row?.error ?? 'missing row'})` };
  const side = (s: Side): RegisterDeviceSide | undefined => {
    const numbers = row[s];
    if (!numbers) return undefined;
    const { answers, errors } = workload.tally(s);
    return {
      createdPerSec: numbers.rps,
      p99ms: numbers.p99ms,
      answers: { ...answers },
      connectionErrors: errors,
      non2xx: Object.entries(answers)
        .filter(([kind]) => !kind.startsWith('2'))
        .reduce((n, [, c]) => n + c, 0),
    };
  };
  const report: RegisterDeviceReport = {
    ratio: row.ratio,
    ratioDurable: row.ratioDurable ?? null,
    targetDurable: row.targetDurable ?? null,
    meetsTarget: row.meetsTarget,
    gatehouse: side('gatehouse')!,
    baseline: side('baseline')!,
    durable: side('durable'),
  };
  return report;
}

/** Rotating against single client, each server against itself; Gatehouse's ratio is the target. */
function rotatingFrom(singleRow: WorkloadReport | undefined, rotatingRow: WorkloadReport | undefined): BenchReport['rotating'] {
  if (!singleRow?.gatehouse || !singleRow.baseline || !rotatingRow?.gatehouse || !rotatingRow.baseline) {
    return { error: `not measured (${singleRow?.error ?? rotatingRow?.error ?? 'missing rows'})` };
  }
  const side = (s: Side): RotatingSide | undefined => {
    const one = singleRow[s];
    const many = rotatingRow[s];
    return one && many ? { singleRps: one.rps, rotatingRps: many.rps, ratio: round(many.rps / one.rps, 3) } : undefined;
  };
  const clients = rotatingRow.details?.gatehouse?.clients;
  const gatehouse = side('gatehouse')!;
  const report: RotatingReport = {
    clients: typeof clients === 'number' ? clients : 0,
    target: rotatingTarget,
    meetsTarget: gatehouse.ratio >= rotatingTarget,
    gatehouse,
    baseline: side('baseline')!,
    durable: side('durable'),
  };
  return report;
}

/** The scaling figure: Gatehouse with 2 workers against 1, on the rows that ran on both. */
function workersScalingFrom(workloads: WorkloadReport[], failure: string | undefined): BenchReport['workersScaling'] {
  if (failure) return { error: failure };
  const rows = workloads
    .filter((w) => w.workers && w.gatehouse && w.gatehouse.rps > 0)
    .map((w) => ({ name: w.name, oneWorkerRps: w.gatehouse!.rps, twoWorkersRps: w.workers!.rps, ratio: round(w.workers!.rps / w.gatehouse!.rps, 3) }));
  if (rows.length === 0) return { error: 'not measured (no row ran on the workers server)' };
  const report: WorkersScalingReport = {
    workers: scalingWorkers,
    cores: availableParallelism(),
    note:
      `the load generator (this process: autocannon, the login loop) competes with the workers for the same ${availableParallelism()} cores,` +
      ' so this ratio is printed, not asserted (on this machine it cannot reach 2x)',
    rows,
  };
  return report;
}

/** Every target of the run, in one list (the summary ends with it; latest.json keeps it). */
function targetsFrom(report: Omit<BenchReport, 'targets'>, firstLoginName: string): TargetResult[] {
  const targets: TargetResult[] = [];
  const ratio = (name: string, value: number | null | undefined, target: number | null | undefined, note?: string) => {
    if (target === null || target === undefined) return;
    const v = value ?? null;
    targets.push({ name, value: v, target, op: '>=', met: v !== null && v >= target, ...(note ? { note } : {}) });
  };
  const row = (name: string) => report.workloads.find((w) => w.name === name);
  const cc = report.workloads.find((w) => w.name === 'client_credentials token');
  ratio('client_credentials token, Gatehouse / durable baseline', cc?.ratioDurable, cc?.targetDurable);
  ratio('client_credentials token, Gatehouse / in-memory baseline', cc?.ratio, cc?.target);
  const rot = report.rotating;
  targets.push(
    rot && !('error' in rot)
      ? {
          name: `client_credentials over ${rot.clients} rotating clients / one client (Gatehouse, same run)`,
          value: rot.gatehouse.ratio,
          target: rot.target,
          op: '>=',
          met: rot.meetsTarget,
        }
      : { name: 'client_credentials rotating / one client (Gatehouse, same run)', value: null, target: rotatingTarget, op: '>=', met: false },
  );
  const loginRow = row('login round trip');
  ratio('login round trip, Gatehouse / in-memory baseline', loginRow?.ratio, loginRow?.target);
  const first = row(firstLoginName);
  ratio('first login with an invitation / plain login (Gatehouse)', first?.ratio, first?.target ?? 0.9);
  const polling = report.workloads.find((w) => w.name.startsWith('device polling'));
  ratio(`${polling?.name ?? 'device polling'}, Gatehouse / in-memory baseline`, polling?.ratio, polling?.target ?? 0.9);
  const reg = row('registration (one counted token)');
  ratio("registration (one counted token), Gatehouse / durable baseline's /reg", reg?.ratioDurable, reg?.targetDurable ?? 0.9);
  const rd = report.workloads.find((w) => w.name.startsWith('register-device'));
  ratio("POST /api/register-device, Gatehouse / durable baseline's /reg", rd?.ratioDurable, rd?.targetDurable ?? 0.8);
  const { idleMB, peakMB, peakDuring } = report.rss.gatehouse;
  targets.push({
    name: 'Gatehouse RSS at idle',
    value: idleMB,
    target: rssIdleTargetMB,
    op: '<=',
    unit: 'MB',
    met: idleMB !== null && idleMB <= rssIdleTargetMB,
  });
  targets.push({
    name: "Gatehouse RSS at peak (the bench's load)",
    value: peakMB,
    target: rssPeakTargetMB,
    op: '<=',
    unit: 'MB',
    met: peakMB !== null && peakMB <= rssPeakTargetMB,
    ...(peakDuring ? { note: `during ${peakDuring}` } : {}),
  });
  for (const name of ['discovery', 'jwks']) {
    const w = row(name);
    ratio(`${name}, Gatehouse / in-memory baseline`, w?.ratio, w?.target ?? 0.8);
  }
  const count = report.registration;
  targets.push(
    count && !('error' in count)
      ? {
          name: "registration count exact (the token's uses, read with the CLI, = Gatehouse's 201 answers)",
          value: count.countExact ? 1 : 0,
          target: 1,
          op: '>=',
          unit: 'check',
          met: count.countExact,
          note: `uses ${count.uses}, 201 answers ${count.created}`,
        }
      : { name: 'registration count exact', value: null, target: 1, op: '>=', unit: 'check', met: false, note: count?.error ?? 'not run' },
  );
  return targets;
}

/** Gatehouse alone (its own process and SQLite file) under the mixed workload; SQLITE_BUSY counted in its log. */
async function mixedRun(): Promise<NonNullable<BenchReport['mixed']>> {
  let busyLines = 0;
  const child = await startChildServer('gatehouse-mixed', 'bench/servers/gatehouse-server.ts', {
    args: [`--mixed=${mixedShape.accounts}`],
    onLine: (line) => {
      if (line.includes('SQLITE_BUSY')) busyLines += 1;
    },
  });
  servers.push(child);
  try {
    console.log(`  mixed load: ${mixedShape.concurrency} clients for ${mixedShape.durationMs / 1000} s on ${child.url} (pid ${child.pid}, SQLite) ...`);
    const report = await mixedLoad(mixedFrom(child.url, child.announced), { ...mixedShape, maxOperations: Number.POSITIVE_INFINITY });
    await child.stop();
    return { ...report, busyLines };
  } catch (err) {
    await child.stop();
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

function mixedText(mixed: NonNullable<BenchReport['mixed']>): string {
  return 'error' in mixed ? `mixed load: FAILED ${mixed.error}` : mixedSummary(mixed, mixed.busyLines);
}

async function main(): Promise<number> {
  if (onlyMixed) {
    const mixed = await mixedRun();
    console.log(`\n${mixedText(mixed)}\n\n(--only=mixed: not saved)`);
    return 'error' in mixed ? 1 : 0;
  }
  console.log(`Gatehouse bench${quick ? ' (quick)' : ''}: ${availableParallelism()} CPUs, Node ${process.version}, load average ${loadAtStart.join(' ')}`);
  const baseline = await startChildServer('baseline', 'bench/servers/baseline-server.ts');
  servers.push(baseline);
  const durable = await startChildServer('durable', 'bench/servers/baseline-server.ts', { args: ['--durable'] });
  servers.push(durable);
  const gatehouse = await startChildServer('gatehouse', 'bench/servers/gatehouse-server.ts', {
    args: ['--registration', '--devices'],
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [],
  });
  servers.push(gatehouse);
  console.log(
    `  in-memory baseline ${baseline.url} (pid ${baseline.pid})\n  durable baseline   ${durable.url} (pid ${durable.pid}, SQLite)\n  gatehouse          ${gatehouse.url} (pid ${gatehouse.pid})`,
  );

  // At rest: V8's memory reducer gives back the heap start-up grew once the process has done nothing for a while: seen after 17 to 40 s
  // from start, never at the same moment. So each server's idle figure is its lowest reading from 20 s to 50 s after start, the same for all three.
  const idle = quick
    ? await sleep(1000).then(() => ({ gatehouse: readRssMB(gatehouse.pid), baseline: readRssMB(baseline.pid), durable: readRssMB(durable.pid) }))
    : await restingRss({ gatehouse: gatehouse.pid, baseline: baseline.pid, durable: durable.pid }, 20_000, 50_000);
  const samplers = { gatehouse: new RssSampler(gatehouse.pid), baseline: new RssSampler(baseline.pid), durable: new RssSampler(durable.pid) };
  /** Names the workload about to run, so each sampler says which one its peak fell in (`peakDuring` in latest.json). */
  const phase = (name: string) => Object.values(samplers).forEach((s) => s.phase(name));

  // Gatehouse with 2 workers (the real CLI), for the scaling figure: client_credentials and the login round trip only.
  let workers: ChildServer | undefined;
  let workersFailure: string | undefined;
  try {
    workers = await startChildServer('gatehouse-workers', 'bench/servers/gatehouse-workers-server.ts', { args: [`--workers=${scalingWorkers}`] });
    servers.push(workers);
    const pids = Array.isArray(workers.announced.workerPids) ? workers.announced.workerPids.join(', ') : '?';
    console.log(`  gatehouse-workers  ${workers.url} (gatehouse serve --workers ${scalingWorkers}, workers ${pids})`);
  } catch (err) {
    workersFailure = `gatehouse serve --workers ${scalingWorkers} did not start: ${message(err)}`;
    console.log(`  ${workersFailure}`);
  }
  const three: Servers = { baseline, durable, gatehouse };
  const withWorkers: Servers = workers ? { ...three, workers } : three;

  const registering = registrationFrom(gatehouse.url, gatehouse.announced);
  const single = clientCredentials(durations);
  // --quick: fewer clients, still twice oidc-provider's cache of built clients (100), so the same path runs.
  const rotatingWorkload = clientCredentialsRotating(durations, registering, quick ? 200 : rotatingClientCount);
  const registrationWorkload = registration(durations, registering);
  const pollingWorkload = devicePolling(deviceDurations, pendingDeviceCodes);
  const registerDeviceWorkload = registerDevice(deviceDurations, devicesFrom(gatehouse.url, gatehouse.announced));
  const loginWorkload = login(durations);
  // One client and many: their Gatehouse rates are compared with each other, so their rounds alternate.
  phase(`${single.name} + ${rotatingWorkload.name}`);
  const workloads: WorkloadReport[] = await compareTogether([single, rotatingWorkload], withWorkers);
  phase(loginWorkload.name);
  workloads.push(await compare(loginWorkload, withWorkers));
  if (workers) {
    await workers.stop();
    servers.splice(servers.indexOf(workers), 1);
  }
  // Registrations last: the clients they leave behind should not weigh on the others.
  for (const workload of [discovery(metadataDurations), jwks(metadataDurations), pollingWorkload, registrationWorkload, registerDeviceWorkload]) {
    phase(workload.name);
    workloads.push(await compare(workload, three));
  }

  const rotatingReport = rotatingFrom(
    workloads.find((w) => w.name === single.name),
    workloads.find((w) => w.name === rotatingWorkload.name),
  );

  phase('registration count (CLI)');
  console.log("  registration: reading the token's uses with the CLI ...");
  let registrationReport: BenchReport['registration'];
  try {
    registrationReport = await registrationCount(registering, registrationWorkload);
  } catch (err) {
    registrationReport = { error: message(err) };
  }

  const devicePollingReport = devicePollingFrom(workloads, pollingWorkload);
  const registerDeviceReport = registerDeviceFrom(workloads, registerDeviceWorkload);

  // First login with an invitation, on a second Gatehouse (manual gating), against Gatehouse's plain login.
  let raceReport: BenchReport['race'];
  const firstLoginWorkload = firstLogin(durations, { url: '', token: '', raceToken: '', accounts: 0 });
  try {
    const accounts = quick ? 400 : 3000;
    // Gatehouse's plain login is the baseline side of this comparison: its rounds run on the sampled Gatehouse.
    phase(firstLoginWorkload.name);
    const firstauthServer = await startChildServer('gatehouse-firstauth', 'bench/servers/gatehouse-server.ts', { args: [`--first-logins=${accounts}`] });
    servers.push(firstauthServer);
    const firstauth = firstAuthFrom(firstauthServer.url, firstauthServer.announced);
    console.log(`  gatehouse-firstauth ${firstauth.url} (pid ${firstauthServer.pid}, ${accounts} first-time accounts, manual gating)`);
    // The "baseline" side of this comparison is Gatehouse's plain login.
    workloads.push(await compare(firstLogin(durations, firstauth), { gatehouse: { ...firstauthServer, name: 'gatehouse' }, baseline: gatehouse }));
    console.log('  race: 30 concurrent first logins on a 5-use invitation ...');
    try {
      raceReport = await race(firstauth);
    } catch (err) {
      raceReport = { error: message(err) };
    }
    await firstauthServer.stop();
  } catch (err) {
    workloads.push({
      name: firstLoginWorkload.name,
      gatehouse: null,
      baseline: null,
      ratio: null,
      target: firstLoginWorkload.target,
      meetsTarget: false,
      error: message(err),
    });
  }

  console.log(`  overload: ${burst} concurrent login POSTs ...`);
  const overloadReport: BenchReport['overload'] = { gatehouse: null, baseline: null };
  const runOverload = async (server: ChildServer): Promise<OverloadReport | null> => {
    try {
      return await overload(server.url, burst);
    } catch (err) {
      overloadReport.error = `${server.name}: ${message(err)}`;
      return null;
    }
  };
  phase(`overload burst (${burst} login POSTs)`);
  overloadReport.gatehouse = await runOverload(gatehouse);
  overloadReport.baseline = await runOverload(baseline);
  // The mixed load runs on a Gatehouse of its own (not sampled): whatever the three read from here on is their rest after the burst.
  phase('after the overload burst');

  // Gatehouse alone, last: its own process, so the load of the comparisons above does not weigh on it.
  const mixedReport = await mixedRun();

  const measured: Omit<BenchReport, 'targets'> = {
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), node: process.version, loadavgAtStart: loadAtStart, loadavgAtEnd: loadavg().map((l) => round(l, 2)) },
    workloads,
    overload: overloadReport,
    race: raceReport,
    rotating: rotatingReport,
    registration: registrationReport,
    devicePolling: devicePollingReport,
    registerDevice: registerDeviceReport,
    workersScaling: workersScalingFrom(workloads, workersFailure),
    mixed: mixedReport,
    rss: {
      gatehouse: rssFrom(idle.gatehouse, samplers.gatehouse),
      baseline: rssFrom(idle.baseline, samplers.baseline),
      durable: rssFrom(idle.durable, samplers.durable),
    },
    durationSeconds: round((Date.now() - started) / 1000, 1),
  };
  const report: BenchReport = { ...measured, targets: targetsFrom(measured, firstLoginWorkload.name) };
  await stopAll();
  if (!quick) await writeReport(resultsFile, report);

  const loginRow = workloads.find((w) => w.name === loginWorkload.name);
  const firstRow = workloads.find((w) => w.name === firstLoginWorkload.name && !w.error);
  const tables = [
    ...(loginRow ? [stepTable(loginRow)] : []),
    ...(firstRow
      ? [
          stepTable(firstRow, 'first login step (ms)', [
            ['gatehouse', 'first'],
            ['baseline', 'plain'],
          ]),
        ]
      : []),
  ];
  console.log(
    `\n${tables.map((t) => `${t}\n\n`).join('')}${summary(report)}\n\n${mixedText(mixedReport)}\n\n${quick ? 'quick run, not saved' : `written ${path.relative(process.cwd(), resultsFile)}`} (${report.durationSeconds} s)`,
  );
  // A missed target or a 500 in the burst is a finding, printed above; only a workload that could not run fails the bench.
  return workloads.some((w) => w.error) ||
    'error' in mixedReport ||
    overloadReport.error ||
    (raceReport && 'error' in raceReport) ||
    'error' in registrationReport ||
    workersFailure
    ? 1
    : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exit(1);
  },
);
