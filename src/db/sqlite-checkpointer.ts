/**
 * SQLite checkpoints off the request thread. In WAL mode a commit appends to
 * the WAL file; now and then a checkpoint copies those pages into the
 * database file and fsyncs it. Done by the writing connection
 * (`wal_autocheckpoint`), that fsync stops every request of the process for
 * its duration: measured on the bench machine it was most of a token's cost
 * (bench/README.md, "Where the time went"). A serving process therefore runs
 * checkpoints in a worker thread of its own, on its own connection to the same
 * file, once `minCommits` group commits (./sqlite-statements.ts; each writes
 * at least one page to the WAL, a token some three or four) were made since
 * the last one, looked at every `everyMs`; an idle or lightly used server
 * never starts the thread nor fsyncs for it (PASSIVE: it never waits for, nor
 * blocks, a writer or a reader; SQLite restarts the WAL from its beginning once
 * all of it was copied).
 *
 * Nothing here opens the database's files itself (the -shm WAL index could
 * tell how many frames wait): closing any descriptor of a file drops every
 * POSIX lock the process holds on it, SQLite's included, and another process
 * opening the database then takes itself for the first one and resets the
 * WAL index under this one's feet (SIGBUS; seen in the bench with the CLI). What a commit guarantees does not change: a committed write is in
 * the WAL before its caller hears of it, and a crash keeps it (the WAL is
 * replayed at the next open). The connection's own `wal_autocheckpoint`
 * (db/knex.ts) stays as the safety net should this thread ever stop.
 *
 * The worker is plain JavaScript run from a string (no TypeScript loader in
 * the thread), and unref'd: it never keeps a process alive.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.ts';
import type { Db } from './knex.ts';
import { commitCount } from './sqlite-statements.ts';

const workers = new WeakMap<Db, Worker>();
/** The timer that looks at the commit count of each database checkpointed this way. */
const timers = new WeakMap<Db, NodeJS.Timeout>();

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true, timeout: 0 });
// A checkpoint copies WAL frames into the file: it needs no page cache of its own.
db.pragma('cache_size = 16');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or gone: the next request tries again */ }
};
parentPort.on('message', (message) => {
  checkpoint();
  if (message !== 'stop') return;
  db.close();
  parentPort.close();
});
`;

/**
 * Starts checkpoints off the request thread for an SQLite file database
 * (nothing for PostgreSQL or `:memory:`); stopped by `stopCheckpoints`. The
 * thread itself starts with the first checkpoint, once `minCommits` group
 * commits were made (at once when `minCommits` is 0).
 */
export function startCheckpoints(db: Db, logger?: Pick<Logger, 'warn'>, everyMs = 200, minCommits = 250): void {
  if (db.client.driverName !== 'better-sqlite3' || workers.has(db) || timers.has(db)) return;
  const filename = (db.client as unknown as { config: { connection?: { filename?: string } } }).config.connection?.filename;
  if (!filename || filename === ':memory:') return;
  const start = (): Worker => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), filename },
      // A small thread: it holds one connection.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 2, stackSizeMb: 1 },
    });
    worker.on('error', (err: unknown) => {
      clearInterval(timers.get(db));
      timers.delete(db);
      workers.delete(db);
      // The connection's own wal_autocheckpoint (db/knex.ts) checkpoints from now on, on the request thread.
      logger?.warn({ err }, 'the SQLite checkpoint thread stopped; checkpoints run on the request thread from now on');
    });
    worker.unref();
    workers.set(db, worker);
    return worker;
  };
  if (minCommits <= 0) start();
  let last = commitCount(db);
  const timer = setInterval(() => {
    const now = commitCount(db);
    if (now - last < minCommits) return;
    last = now;
    (workers.get(db) ?? start()).postMessage('checkpoint');
  }, everyMs);
  timer.unref();
  timers.set(db, timer);
}

/** Ends the checkpoint thread (a last checkpoint first), before the database closes. */
export async function stopCheckpoints(db: Db): Promise<void> {
  clearInterval(timers.get(db));
  timers.delete(db);
  const worker = workers.get(db);
  if (!worker) return;
  workers.delete(db);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage('stop');
  await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  await worker.terminate().catch(() => undefined);
}
