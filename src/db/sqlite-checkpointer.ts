/**
 * SQLite checkpoints off the request thread. In WAL mode a commit appends to
 * the WAL file; now and then a checkpoint copies those pages into the
 * database file and fsyncs it. Done by the writing connection
 * (`wal_autocheckpoint`), that fsync stops every request of the process for
 * its duration: measured on the bench machine it was most of a token's cost
 * (bench/README.md, "Where the time went"). A serving process therefore runs
 * checkpoints in a worker thread of its own, on its own connection to the same
 * file, every `everyMs` once `minFrames` frames (~4 MB) wait in the WAL, so an
 * idle or lightly used server never fsyncs for it (PASSIVE: it never waits for, nor blocks, a writer or
 * a reader; SQLite restarts the WAL from its beginning once all of it was
 * copied). What a commit guarantees does not change: a committed write is in
 * the WAL before its caller hears of it, and a crash keeps it (the WAL is
 * replayed at the next open). The connection's own `wal_autocheckpoint`
 * (db/knex.ts) stays as the safety net should this thread ever stop.
 *
 * The worker is plain JavaScript run from a string (no TypeScript loader in
 * the thread), and unref'd: it never keeps a process alive.
 */
import { createRequire } from 'node:module';
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.ts';
import type { Db } from './knex.ts';

const workers = new WeakMap<Db, Worker>();
/** Databases whose WAL is watched until the thread is worth starting. */
const watches = new WeakMap<Db, NodeJS.Timeout>();

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true, timeout: 0 });
// A checkpoint copies WAL frames into the file: it needs no page cache of its own.
db.pragma('cache_size = 16');
const fs = require('node:fs');
let shm;
// Frames written to the WAL and not yet copied into the file: mxFrame and nBackfill of SQLite's WAL index (the -shm file).
const pending = () => {
  try {
    shm ??= fs.openSync(workerData.filename + '-shm', 'r');
    const header = Buffer.alloc(100);
    fs.readSync(shm, header, 0, 100, 0);
    return header.readUInt32LE(16) - header.readUInt32LE(96);
  } catch { return Infinity; }
};
const timer = setInterval(() => {
  // A few frames wait for the next turn: a checkpoint (and its fsync) only once there is something worth copying.
  if (pending() < workerData.minFrames) return;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or gone: the next turn tries again */ }
}, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  if (shm !== undefined) fs.closeSync(shm);
  db.close();
  parentPort.close();
});
`;

/** Frames in the WAL not yet copied into the file (mxFrame − nBackfill of the -shm WAL index); Infinity when unreadable. */
function pendingFrames(shmFile: string): number {
  try {
    const fd = openSync(shmFile, 'r');
    try {
      const header = Buffer.alloc(100);
      readSync(fd, header, 0, 100, 0);
      return header.readUInt32LE(16) - header.readUInt32LE(96);
    } finally {
      closeSync(fd);
    }
  } catch {
    return Infinity;
  }
}

/**
 * Starts checkpoints off the request thread for an SQLite file database
 * (nothing for PostgreSQL or `:memory:`); stopped by `stopCheckpoints`. The
 * thread itself starts only once `minFrames` wait in the WAL (a look at the
 * WAL index every second, a 100-byte read): a server that is idle or lightly
 * used never pays for it.
 */
export function startCheckpoints(db: Db, logger?: Pick<Logger, 'warn'>, everyMs = 200, minFrames = 1000): void {
  if (db.client.driverName !== 'better-sqlite3' || workers.has(db) || watches.has(db)) return;
  const filename = (db.client as unknown as { config: { connection?: { filename?: string } } }).config.connection?.filename;
  if (!filename || filename === ':memory:') return;
  const start = () => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), filename, everyMs, minFrames },
      // A small thread: it holds one connection and a timer.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 2, stackSizeMb: 1 },
    });
    worker.on('error', (err: unknown) => {
      workers.delete(db);
      // The connection's own wal_autocheckpoint (db/knex.ts) checkpoints from now on, on the request thread.
      logger?.warn({ err }, 'the SQLite checkpoint thread stopped; checkpoints run on the request thread from now on');
    });
    worker.unref();
    workers.set(db, worker);
  };
  if (minFrames <= 0) {
    start();
    return;
  }
  const watch = setInterval(() => {
    if (pendingFrames(`${filename}-shm`) < minFrames) return;
    clearInterval(watch);
    watches.delete(db);
    start();
  }, 1000);
  watch.unref();
  watches.set(db, watch);
}

/** Ends the checkpoint thread (a last checkpoint first), before the database closes. */
export async function stopCheckpoints(db: Db): Promise<void> {
  clearInterval(watches.get(db));
  watches.delete(db);
  const worker = workers.get(db);
  if (!worker) return;
  workers.delete(db);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage('stop');
  await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  await worker.terminate().catch(() => undefined);
}
