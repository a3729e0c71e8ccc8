/**
 * `gatehouse serve --workers N` (SPEC 9): N worker processes on one port with
 * node:cluster. The primary serves nothing: it runs the start-up work that must
 * happen once (./server.ts `prepareDatabase`: migrations, the repair of
 * interrupted registrations, keys, auto mode's global token), forks the
 * workers (each runs the same command line again, so it loads the same config,
 * and builds the provider and the app with `listenApp`; cluster shares the
 * port), spends the first admin's one-time link once all of them listen, and
 * runs the periodic clean-up and the registration repair sweep, so that runs in
 * one process only. A worker that dies is replaced after a backoff; one that
 * fails to start (port taken, database down) stops the whole start with its
 * message. The primary's stop() asks every worker to close its server and
 * database and waits for them.
 *
 * What is shared between workers: everything in the database (counted tokens,
 * registrations, sessions and grants, signing keys and their rotation through
 * oidc/key-refresh.ts, the mail outbox, whose lease in mail/sender.ts lets one
 * sender only claim a mail, a client's last-token time, written only when the
 * stored one is a minute old: registration/registrar.ts `noteTokenIssued`), and
 * everything counted in the limiter store (`security.rateLimits.store`,
 * lib/limiter-store.ts; per worker only when it is `memory`): the rate limits,
 * the login throttle and the device polling pace (oidc/device-polling.ts
 * `PollingPace`: `slow_down` and the grown interval hold at every worker). What
 * is still per process (so per worker; an instance with N workers behaves like
 * N instances behind a balancer):
 * - `security.passwordHashConcurrency` and `passwordHashQueue` hold per worker;
 * - the database pool: N pools (PostgreSQL: up to N x `database.pool.max`
 *   connections; SQLite: N connections to one WAL file, writers take turns
 *   through the write lock and the busy timeout, db/flavor.ts);
 * - /metrics: each scrape answers with the counters of the worker that took the
 *   connection; every series carries a `worker` label to tell them apart;
 * - log lines carry `worker` and `pid`.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Gatehouse } from '../context.ts';
import { asDatabaseError } from '../db/flavor.ts';
import { GatehouseError, gatehouseErrorCodes, type GatehouseErrorCode } from '../errors.ts';
import { bootstrapLink, listenApp, prepareDatabase, startHousekeeping } from './server.ts';

/** Restart backoff: the first replacement after `restartBaseMs`, doubling for each worker that dies again soon, at most `restartMaxMs`. */
const restartBaseMs = 500;
const restartMaxMs = 30_000;
/** A worker that served this long before dying starts the backoff over. */
const stableMs = 60_000;
/** How long stop() waits for a worker to close before it is killed. */
const stopGraceMs = 15_000;

/** What a worker tells the primary. */
type WorkerMessage =
  { type: 'gatehouse.listening' } | { type: 'gatehouse.failed'; code?: GatehouseErrorCode; message: string; details?: Record<string, unknown> };
/** What the primary tells a worker. */
type PrimaryMessage = { type: 'gatehouse.stop' };

export const isClusterWorker = (): boolean => cluster.isWorker;

export interface RunningCluster {
  url: string;
  /** The workers' process ids, in worker order. */
  pids(): number[];
  bootstrapLink?: string | undefined;
  stop(): Promise<void>;
}

interface Member {
  worker: Worker;
  startedAt: number;
  listening: boolean;
  /** Settles once the worker has exited. */
  exited: Promise<void>;
}

/** A worker's start failure as an error the CLI reports as if the primary had failed itself (same message, same exit code). */
function failureOf(message: Extract<WorkerMessage, { type: 'gatehouse.failed' }>): Error {
  if (message.code && (gatehouseErrorCodes as readonly string[]).includes(message.code))
    return new GatehouseError(message.code, message.message, message.details);
  return new Error(message.message);
}

const isWorkerMessage = (value: unknown): value is WorkerMessage =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { type?: unknown }).type === 'string' &&
  (value as { type: string }).type.startsWith('gatehouse.');

/**
 * The primary: prepares the database, forks `count` workers and resolves once
 * all of them listen (rejects, with every worker stopped, if one fails first).
 */
export async function startCluster(gh: Gatehouse, count: number): Promise<RunningCluster> {
  const { logger } = gh;
  // The primary's lines carry its pid, the workers' their worker id and pid (serveAsWorker); its lines about a worker say workerId and workerPid.
  logger.setBindings({ pid: process.pid });
  await prepareDatabase(gh);

  const members = new Set<Member>();
  let stopping = false;
  let delayMs = restartBaseMs;
  const pendingRestarts = new Set<NodeJS.Timeout>();

  const fork = (): { member: Member; ready: Promise<void> } => {
    const worker = cluster.fork();
    let exitedResolve: () => void = () => undefined;
    const member: Member = { worker, startedAt: Date.now(), listening: false, exited: new Promise<void>((resolve) => (exitedResolve = resolve)) };
    members.add(member);
    // A failed IPC send to a worker that is going away; its exit is handled below.
    worker.on('error', (err: Error) => logger.warn({ workerId: worker.id, err: { message: err.message } }, 'worker channel error'));
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isWorkerMessage(message)) return;
        if (message.type === 'gatehouse.listening') {
          member.listening = true;
          logger.info({ workerId: worker.id, workerPid: worker.process.pid }, 'worker listening');
          resolve();
        } else {
          reject(failureOf(message));
        }
      });
      worker.on('exit', (code, signal) => {
        members.delete(member);
        exitedResolve();
        if (!member.listening) {
          reject(new Error(`worker ${worker.id} exited (${signal ?? `code ${code}`}) before it was listening`));
          return;
        }
        if (stopping) return;
        // Died while serving: replaced after a backoff that grows while replacements keep dying soon.
        if (Date.now() - member.startedAt >= stableMs) delayMs = restartBaseMs;
        logger.error(
          { workerId: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: delayMs },
          'worker died unexpectedly; a replacement starts after the backoff',
        );
        schedule(delayMs);
        delayMs = Math.min(delayMs * 2, restartMaxMs);
      });
    });
    // The rejection is handled by whoever awaits `ready`; a replacement's is logged below.
    ready.catch(() => undefined);
    return { member, ready };
  };

  const schedule = (ms: number) => {
    const timer = setTimeout(() => {
      pendingRestarts.delete(timer);
      if (stopping) return;
      const { member, ready } = fork();
      ready.catch((err: unknown) => {
        if (stopping) return;
        // A replacement that cannot start (database down for a while): try again later, with the backoff.
        logger.error({ workerId: member.worker.id, err: { message: (err as Error).message }, restartInMs: delayMs }, 'replacement worker failed to start');
        if (member.worker.process.exitCode === null && member.worker.process.signalCode === null) member.worker.process.kill('SIGKILL');
        schedule(delayMs);
        delayMs = Math.min(delayMs * 2, restartMaxMs);
      });
    }, ms);
    pendingRestarts.add(timer);
  };

  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const timer of pendingRestarts) clearTimeout(timer);
    pendingRestarts.clear();
    await Promise.all(
      [...members].map(async (member) => {
        const { worker } = member;
        // A listening worker closes its server and database; one still starting has nothing to close (and no handler yet).
        if (member.listening && worker.isConnected()) {
          try {
            worker.send({ type: 'gatehouse.stop' } satisfies PrimaryMessage);
          } catch {
            worker.process.kill('SIGTERM');
          }
        } else {
          worker.process.kill('SIGTERM');
        }
        const grace = setTimeout(() => {
          logger.warn({ workerId: worker.id, workerPid: worker.process.pid }, 'worker did not stop in time; killed');
          worker.process.kill('SIGKILL');
        }, stopGraceMs);
        await member.exited;
        clearTimeout(grace);
      }),
    );
  };

  // Each worker runs this command line again (process.argv); cluster shares the port the first one listens on.
  const first = Array.from({ length: count }, () => fork());
  let link: string | undefined;
  try {
    await Promise.all(first.map((f) => f.ready));
    link = await bootstrapLink(gh);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const stopHousekeeping = startHousekeeping(gh);
  logger.info({ workers: count, workerPids: first.map((f) => f.member.worker.process.pid) }, 'all workers listening');
  return {
    url: gh.config.issuer,
    bootstrapLink: link,
    pids: () => [...members].map((m) => m.worker.process.pid).filter((pid): pid is number => pid !== undefined),
    async stop() {
      stopHousekeeping();
      await stopAll();
    },
  };
}

/**
 * A worker: builds the app and listens (the port is the primary's, shared by
 * cluster), tells the primary, and serves until the primary says stop, the
 * primary goes away, or SIGTERM/SIGINT reach it (Ctrl-C at a terminal signals
 * every process of the group); then closes its server and database.
 * A start failure goes to the primary, which reports it once for all.
 */
export async function serveAsWorker(gh: Gatehouse): Promise<void> {
  const id = cluster.worker?.id ?? 0;
  gh.logger.setBindings({ worker: id, pid: process.pid });
  gh.metrics.registry.setDefaultLabels({ worker: String(id) });
  const send = (message: WorkerMessage) =>
    new Promise<void>((resolve) => (process.send ? process.send(message, undefined, undefined, () => resolve()) : resolve()));

  let app: Awaited<ReturnType<typeof listenApp>>;
  try {
    app = await listenApp(gh);
  } catch (err) {
    const known = asDatabaseError(err);
    await send(
      known instanceof GatehouseError
        ? { type: 'gatehouse.failed', code: known.code, message: known.message, ...(known.details ? { details: known.details } : {}) }
        : { type: 'gatehouse.failed', message: err instanceof Error ? err.message : String(err) },
    );
    if (process.env.GATEHOUSE_DEBUG) console.error(err);
    if (process.connected) process.disconnect();
    return;
  }
  await send({ type: 'gatehouse.listening' });

  await new Promise<void>((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as PrimaryMessage | undefined)?.type === 'gatehouse.stop') done();
    };
    const done = () => {
      process.off('message', onMessage);
      process.off('disconnect', done);
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.on('message', onMessage);
    process.on('disconnect', done);
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
  gh.logger.info('worker shutting down');
  await app.stop().catch(() => undefined);
  if (process.connected) process.disconnect();
}
