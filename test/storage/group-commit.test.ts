/**
 * The SQLite fast storage path (issue 14) keeps every guarantee of one
 * transaction per write: group commit (src/db/sqlite-statements.ts
 * `writePrepared`), the checkpoint thread (src/db/sqlite-checkpointer.ts), the
 * per-connection statement cache (src/db/statement-cache.ts, used by knex's
 * queries too), `writeReturning` (the limit counters) and the registered-client
 * count kept by triggers. The guarantees are checked on SQLite and PostgreSQL
 * alike where they are the database's (writes land, a consume has one winner,
 * one failure fails one caller, a transaction rolled back takes nothing else
 * with it, a resolved write survives a crash, counts are exact); the mechanics
 * are checked on SQLite (fewer commits than writes, a failed COMMIT fails the
 * group, the cache's bound, the checkpoint thread).
 *
 * Observations, not sleeps: "committed" is a row read by a second, independent
 * connection at the moment a promise resolves; "fewer commits than writes" is
 * the WAL's frame count (every commit appends at least one frame, so fewer
 * frames than changing writes means fewer commits); "checkpointed" is the WAL
 * index (the -shm file, https://sqlite.org/walformat.html: mxFrame at byte 16,
 * nBackfill at byte 96) read without taking part; a crash is a child process
 * killed with SIGKILL (or leaving with process.exit) right after a promise
 * resolved.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeDatabase, isUniqueViolation, writeReturning } from '../../src/db/flavor.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import * as models from '../../src/db/repos/oidc-models.ts';
import * as reg from '../../src/db/repos/registration.ts';
import { startCheckpoints, stopCheckpoints } from '../../src/db/sqlite-checkpointer.ts';
import { writePrepared, writeTransaction } from '../../src/db/sqlite-statements.ts';
import { withTransaction, withWriteTransaction } from '../../src/db/transaction.ts';
import { DatabaseLimiterStore } from '../../src/lib/limiter-store.ts';
import { createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../helpers/databases.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const now = Date.UTC(2026, 11, 1);
let serial = 0;
const uniq = (prefix: string) => `${prefix}-${++serial}`;

function modelRow(kind: string, over: Partial<models.OidcModelRow> = {}): models.OidcModelRow {
  return models.modelRow(kind, uniq(kind), '{}', over);
}

function clientRow(over: Partial<reg.RegisteredClientRow> = {}): reg.RegisteredClientRow {
  return {
    client_id: uniq('client'),
    registration_token_id: null,
    via: 'rfc7591',
    kind: 'application',
    disabled_reason: null,
    disabled_at: null,
    created_at: now,
    ...over,
  };
}

const filenameOf = (database: TestDatabase) => (database.config as { filename: string }).filename;

/** A second connection of our own, apart from everything Gatehouse opened: what it reads is committed. */
interface Independent {
  /** On SQLite the read happens synchronously, at the moment of the call. */
  row(kind: string, id: string): Promise<models.OidcModelRow | undefined>;
  close(): Promise<void>;
}

async function independent(database: TestDatabase): Promise<Independent> {
  if (database.kind === 'sqlite') {
    const conn = new Database(filenameOf(database), { readonly: true, fileMustExist: true, timeout: 5000 });
    const find = conn.prepare('select * from oidc_model where kind = ? and id = ?');
    return {
      row: (kind, id) => Promise.resolve(find.get(kind, id) as models.OidcModelRow | undefined),
      close: async () => void conn.close(),
    };
  }
  const client = new pg.Client({ connectionString: (database.config as { url: string }).url });
  await client.connect();
  return {
    row: async (kind, id) => (await client.query<models.OidcModelRow>('select * from oidc_model where kind = $1 and id = $2', [kind, id])).rows[0],
    close: () => client.end(),
  };
}

/**
 * The WAL index header of an SQLite file in WAL mode, read from its -shm file (native byte order). Reading it
 * closes a descriptor of the file, which drops this process's POSIX locks on it: only for files no other process
 * opens meanwhile (see the DMS lock test below).
 */
function walIndex(filename: string): { mxFrame: number; nBackfill: number } {
  const shm = readFileSync(`${filename}-shm`);
  const read = (offset: number) => (endianness() === 'LE' ? shm.readUInt32LE(offset) : shm.readUInt32BE(offset));
  return { mxFrame: read(16), nBackfill: read(96) };
}

/** How many file descriptors of this process (all its threads) are open on `filename`. */
function openDescriptors(filename: string): number {
  const target = realpathSync(filename);
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === target;
    } catch {
      return false;
    }
  }).length;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `source` (an ES module that may import the TypeScript sources) in a child Node process; SIGKILLed after `timeoutMs`. */
async function runChild(source: string, args: string[], timeoutMs = 30_000): Promise<ChildResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-child-'));
  const file = path.join(dir, 'child.mjs');
  writeFileSync(file, source);
  try {
    return await new Promise<ChildResult>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const execFileAsync = promisify(execFile);
/** Tries to take SQLite's DMS lock byte of a -shm file for writing, at once: `held` when another process holds it. */
const dmsProbe = [
  'import fcntl, os, sys',
  'fd = os.open(sys.argv[1], os.O_RDWR)',
  'try:',
  '    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)',
  "    print('free')",
  'except OSError:',
  "    print('held')",
].join('\n');

const src = (file: string) => pathToFileURL(path.join(repoRoot, 'src', file)).href;

/**
 * Writes in one tick, then leaves as a crash would the moment a number of them
 * resolved: `kill` (SIGKILL, nothing runs after) or `exit` (process.exit, no close).
 * Prints each write whose promise resolved, before leaving.
 */
const crashingWriter = `
import { createKnex } from '${src('db/knex.ts')}';
import { consumeModel, upsertModel } from '${src('db/repos/oidc-models.ts')}';
const [config, mode] = [JSON.parse(process.argv[2]), process.argv[3]];
const db = createKnex(config);
const crash = () => (mode === 'kill' ? process.kill(process.pid, 'SIGKILL') : process.exit(0));
// One write first, so the connection exists and the next ones form one group.
await upsertModel(db, { kind: 'AccessToken', id: 'warm-up', payload: '{}', grant_id: null, user_code: null, uid: null, account_id: null, expires_at: null, consumed_at: null });
let resolved = 0;
consumeModel(db, 'AuthorizationCode', 'crash-code', 4242).then((won) => process.stdout.write('consumed ' + won + '\\n'));
for (let i = 0; i < 20; i += 1) {
  upsertModel(db, { kind: 'AccessToken', id: 'crash-' + i, payload: '{"n":' + i + '}', grant_id: null, user_code: null, uid: null, account_id: null, expires_at: null, consumed_at: null }).then(() => {
    process.stdout.write('resolved crash-' + i + '\\n');
    if (++resolved === 10) crash();
  });
}
`;

/**
 * Writes, starts the checkpoint thread (unless `none`) and waits for a checkpoint, then closes knex's pool only
 * (`checkpoints`, the thread still running) or the whole database (`close`): the process must end by itself, having printed `closed`.
 */
const checkpointingWriter = `
import { readFileSync } from 'node:fs';
import { createKnex } from '${src('db/knex.ts')}';
import { upsertModel } from '${src('db/repos/oidc-models.ts')}';
import { startCheckpoints } from '${src('db/sqlite-checkpointer.ts')}';
import { closeDatabase } from '${src('db/flavor.ts')}';
const [config, mode] = [JSON.parse(process.argv[2]), process.argv[3]];
const db = createKnex(config);
await upsertModel(db, { kind: 'AccessToken', id: 'exit-' + mode, payload: '{}', grant_id: null, user_code: null, uid: null, account_id: null, expires_at: null, consumed_at: null });
if (mode !== 'none') {
  startCheckpoints(db, undefined, 10, 0);
  for (let i = 0; ; i += 1) {
    const shm = readFileSync(config.filename + '-shm');
    if (shm.readUInt32LE(16) > 0 && shm.readUInt32LE(96) === shm.readUInt32LE(16)) break;
    if (i > 1000) throw new Error('no checkpoint within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  process.stdout.write('checkpointed\\n');
}
// closeDatabase stops the thread first; destroy leaves it running.
if (mode === 'close') await closeDatabase(db);
else await db.destroy();
process.stdout.write('closed\\n');
`;

describe.each(databaseKinds)('hot writes on %s', (kind: DatabaseKind) => {
  let database: TestDatabase;
  let db: Db;
  let other: Independent;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createKnex(database.config);
    await migrateLatest(db);
    other = await independent(database);
  });
  afterAll(async () => {
    await other?.close();
    if (db) await closeDatabase(db);
    await database?.drop();
  });

  it('lands 100 upserts and 40 consumes asked for in one tick, each committed when its promise resolves (SQLite: in fewer commits than writes)', async () => {
    const codes = Array.from({ length: 40 }, () => modelRow('AuthorizationCode'));
    await Promise.all(codes.map((row) => models.upsertModel(db, row)));
    const tokens = Array.from({ length: 100 }, () => modelRow('AccessToken', { payload: `{"token":"${uniq('t')}"}` }));
    let sqlite: BetterSqlite3.Database | undefined;
    if (kind === 'sqlite') {
      // An empty WAL: what the writes below append is theirs alone.
      sqlite = new Database(filenameOf(database), { fileMustExist: true, timeout: 5000 });
      sqlite.pragma('wal_checkpoint(TRUNCATE)');
    }
    try {
      // Seen from the independent connection in the resolution's own callback: committed by then.
      const seen: Promise<unknown>[] = [];
      // And by Gatehouse's own reads (on SQLite its read-only connection, read before the first await).
      const read: Promise<unknown>[] = [];
      const upserts = tokens.map((row) =>
        models.upsertModel(db, row).then(() => {
          seen.push(other.row(row.kind, row.id).then((found) => found?.payload));
          read.push(models.findModel(db, row.kind, row.id).then((found) => found?.payload));
        }),
      );
      const consumes = codes.map((row, i) =>
        models.consumeModel(db, row.kind, row.id, now + i).then((won) => {
          seen.push(other.row(row.kind, row.id).then((found) => found?.consumed_at));
          return won;
        }),
      );
      await Promise.all(upserts);
      expect(await Promise.all(consumes)).toEqual(codes.map(() => true));
      expect(await Promise.all(seen)).toEqual(expect.arrayContaining([...tokens.map((row) => row.payload), ...codes.map((_, i) => now + i)]));
      expect(seen).toHaveLength(140);
      expect(await Promise.all(read)).toEqual(expect.arrayContaining(tokens.map((row) => row.payload)));
      expect(read).toHaveLength(100);
      if (sqlite) {
        const [{ log: frames }] = sqlite.pragma('wal_checkpoint(PASSIVE)') as [{ busy: number; log: number; checkpointed: number }];
        // Every commit appends at least one frame; 140 commits of one write each would append at least 140.
        console.log(`140 hot writes in one tick appended ${frames} WAL frames`);
        expect(frames).toBeGreaterThan(0);
        expect(frames).toBeLessThan(140);
      }
    } finally {
      sqlite?.close();
    }
  });

  it('gives a consume raced in the same tick to exactly one caller, and stores the winner time', async () => {
    const rows = Array.from({ length: 10 }, () => modelRow('RefreshToken'));
    await Promise.all(rows.map((row) => models.upsertModel(db, row)));
    const results = await Promise.all(
      rows.flatMap((row) => [models.consumeModel(db, row.kind, row.id, now + 1), models.consumeModel(db, row.kind, row.id, now + 2)]),
    );
    for (let i = 0; i < rows.length; i += 1) {
      const pair = results.slice(2 * i, 2 * i + 2);
      expect(pair.filter(Boolean)).toHaveLength(1);
      expect((await other.row(rows[i]!.kind, rows[i]!.id))?.consumed_at).toBe(pair[0] ? now + 1 : now + 2);
    }
  });

  it('fails only the caller whose statement fails; the other writes of the same moment are committed', async () => {
    const existing = modelRow('Session', { payload: '{"original":true}' });
    await models.upsertModel(db, existing);
    const before = Array.from({ length: 5 }, () => modelRow('AccessToken'));
    const after = Array.from({ length: 5 }, () => modelRow('AccessToken'));
    const plainInsert = 'insert into oidc_model (kind, id, payload) values (?, ?, ?)';
    const failing: { name: string; write: Promise<unknown>; expected: (err: unknown) => void }[] = [];
    const innocent = before.map((row) => models.upsertModel(db, row));
    // A unique violation (the row exists): SQLite undoes that statement alone.
    failing.push({
      name: 'unique violation',
      write:
        kind === 'sqlite'
          ? writePrepared(db, plainInsert, (s) => s.run(existing.kind, existing.id, '{"overwritten":true}'))
          : db.raw(plainInsert, [existing.kind, existing.id, '{"overwritten":true}']),
      expected: (err) => expect(isUniqueViolation(err)).toBe(true),
    });
    if (kind === 'sqlite') {
      // A NOT NULL violation, and a caller whose own code throws before any statement runs.
      failing.push({
        name: 'not null violation',
        write: writePrepared(db, plainInsert, (s) => s.run('AccessToken', uniq('null'), null)),
        expected: (err) => expect(err).toMatchObject({ code: 'SQLITE_CONSTRAINT_NOTNULL' }),
      });
      failing.push({
        name: 'throwing use',
        write: writePrepared(db, plainInsert, () => {
          throw new Error('the caller failed');
        }),
        expected: (err) => expect(err).toMatchObject({ message: 'the caller failed' }),
      });
    }
    innocent.push(...after.map((row) => models.upsertModel(db, row)));
    const settled = await Promise.allSettled(innocent);
    expect(settled.map((s) => s.status)).toEqual(innocent.map(() => 'fulfilled'));
    for (const { name, write, expected } of failing) {
      const outcome = await write.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(outcome, name).toBeDefined();
      expected(outcome);
    }
    for (const row of [...before, ...after]) expect(await other.row(row.kind, row.id)).toEqual(row);
    expect((await other.row(existing.kind, existing.id))?.payload).toBe('{"original":true}');
  });

  it('makes a write asked for during a knex transaction wait for it, outside it: rolled back, the transaction takes the write with nothing', async () => {
    const insideRow = modelRow('Grant');
    const outsideRow = modelRow('Grant');
    const order: string[] = [];
    let outside: Promise<void> | undefined;
    await expect(
      withTransaction(db, async (trx) => {
        await trx('oidc_model').insert(insideRow);
        outside = models.upsertModel(db, outsideRow).then(() => void order.push('write resolved'));
        // Several turns of the event loop with the transaction open: a group would have run by now if it could.
        for (let i = 0; i < 5; i += 1) {
          await new Promise((resolve) => setImmediate(resolve));
          // On SQLite the transaction never sees it (PostgreSQL commits it meanwhile on another connection).
          if (kind === 'sqlite') expect(await trx('oidc_model').where({ kind: outsideRow.kind, id: outsideRow.id }).first()).toBeUndefined();
        }
        order.push('rolling back');
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    // SQLite has one connection: the write can only run once the transaction gave it back.
    if (kind === 'sqlite') expect(order).toEqual(['rolling back', 'write resolved']);
    expect(await other.row(outsideRow.kind, outsideRow.id)).toEqual(outsideRow);
    expect(await other.row(insideRow.kind, insideRow.id)).toBeUndefined();
  });

  it.each(['kill', 'exit'] as const)('keeps every write whose promise resolved when the process dies right after (%s, nothing closed)', async (mode) => {
    const crashDb = await createTestDatabase(kind);
    try {
      const setup = createKnex(crashDb.config);
      await migrateLatest(setup);
      await models.upsertModel(setup, modelRow('AuthorizationCode', { id: 'crash-code' }));
      // Nobody else holds the file open: the next connection finds only what the crashed process left.
      await closeDatabase(setup);
      const result = await runChild(crashingWriter, [JSON.stringify(crashDb.config), mode]);
      if (mode === 'kill') expect(result.signal, result.stderr).toBe('SIGKILL');
      else expect(result.code, result.stderr).toBe(0);
      const resolved = [...result.stdout.matchAll(/^resolved (crash-\d+)$/gm)].map((m) => m[1]!);
      expect(resolved).toHaveLength(10);
      expect(result.stdout).toContain('consumed true\n');
      const after = await independent(crashDb);
      try {
        for (const id of resolved) expect(await after.row('AccessToken', id), id).toMatchObject({ id });
        expect((await after.row('AuthorizationCode', 'crash-code'))?.consumed_at).toBe(4242);
      } finally {
        await after.close();
      }
    } finally {
      await crashDb.drop();
    }
  });

  it('keeps the registered-client count exact under concurrent registrations, revocations and deletes (PostgreSQL: from two instances)', async () => {
    // Two SQLite instances in one process would wait for each other's write lock on the one thread (better-sqlite3 waits synchronously):
    // a serving process has one writing connection, so SQLite gets the mix on it.
    const second = kind === 'sqlite' ? db : createKnex(database.config);
    try {
      const trueCount = async () => {
        const [row] = (await db('registered_client')
          .where((q) => q.whereNull('disabled_reason').orWhereNot('disabled_reason', 'revoked'))
          .count({ n: '*' })) as { n: number | string }[];
        return Number(row?.n);
      };
      const expectExact = async () => {
        const truth = await trueCount();
        expect(await reg.countRegisteredClients(db)).toBe(truth);
        expect(await reg.countRegisteredClients(second)).toBe(truth);
        return truth;
      };
      const start = await expectExact();
      const reasons: reg.RegisteredClientRow['disabled_reason'][] = [null, 'policy', 'revoked', 'approval', 'admin'];
      const first = Array.from({ length: 40 }, (_, i) =>
        clientRow({ disabled_reason: reasons[i % reasons.length]!, disabled_at: reasons[i % 5] ? now : null }),
      );
      const instance = (i: number) => (i % 2 ? db : second);
      await Promise.all(first.map((row, i) => reg.insertRegisteredClient(instance(i), row)));
      expect(await expectExact()).toBe(start + 32);

      const later = Array.from({ length: 30 }, (_, i) => clientRow({ disabled_reason: i % 3 === 0 ? 'revoked' : null }));
      const work: Promise<unknown>[] = [
        ...later.map((row, i) => reg.insertRegisteredClient(instance(i), row)),
        // Registrations rolled back: their triggers' change goes with them.
        ...Array.from({ length: 5 }, (_, i) =>
          withTransaction(instance(i), async (trx) => {
            await reg.insertRegisteredClient(trx, clientRow());
            throw new Error('rolled back');
          }),
        ),
        // Registrations as the registrar makes them (on SQLite a savepoint of a group commit), and two of them undone.
        ...Array.from({ length: 10 }, () => withWriteTransaction(db, (tx) => reg.insertRegisteredClient(tx, clientRow()))),
        ...Array.from({ length: 2 }, () =>
          withWriteTransaction(db, async (tx) => {
            await reg.insertRegisteredClient(tx, clientRow());
            throw new Error('rolled back');
          }),
        ),
        // A second registration of an existing id fails and counts nothing.
        reg.insertRegisteredClient(second, { ...first[35]! }),
        // Deletes (of every kind of row), revocations and un-revocations.
        ...first.slice(0, 10).map((row, i) => reg.deleteRegisteredClient(instance(i + 1), row.client_id)),
        ...first.slice(10, 20).map((row, i) => reg.setClientDisabled(instance(i), row.client_id, 'revoked', now)),
        ...first.slice(20, 30).map((row, i) => reg.setClientDisabled(instance(i + 1), row.client_id, null, now)),
        ...first.slice(30, 40).map((row, i) => withTransaction(instance(i), (trx) => reg.setClientDisabled(trx, row.client_id, 'admin', now))),
      ];
      const settled = await Promise.allSettled(work);
      const failures = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : [])).sort();
      expect(failures).toEqual([`client ${first[35]!.client_id} already exists`, ...Array.from({ length: 7 }, () => 'rolled back')]);
      // 32 counted of the first 40; deleted 0..9 (8 counted), all of 10..19 revoked (8 were counted), 20..29 all counted now (2 were revoked),
      // 30..39 all 'admin' (2 were revoked), 20 of the 30 later ones and the 10 write transactions.
      expect(await expectExact()).toBe(start + 32 - 8 - 8 + 2 + 2 + 20 + 10);
    } finally {
      if (second !== db) await second.destroy();
    }
  });

  it('counts 50 limit hits of one key at once exactly, 1 to 50, through writeReturning (one instance, then two)', async () => {
    const second = createKnex(database.config);
    const clock = { now: () => now };
    const store = (on: Db) => new DatabaseLimiterStore(on, clock, { countStatement: (sql, bindings) => writeReturning(on, sql, bindings) });
    const one = store(db);
    const two = store(second);
    try {
      const single = await Promise.all(Array.from({ length: 50 }, () => one.incr('burst-one', 60_000)));
      expect(single.map((c) => c.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(single.every((c) => c.remainingMs === 60_000)).toBe(true);
      const split = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? one : two).incr('burst-two', 60_000)));
      expect(split.map((c) => c.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect((await two.peek('burst-one'))?.count).toBe(50);
      expect((await one.peek('burst-two'))?.count).toBe(50);
    } finally {
      await Promise.all([one.close(), two.close()]);
      await closeDatabase(second);
    }
  });
});

describe('group commit on SQLite: a failed COMMIT', () => {
  let database: TestDatabase;
  let db: Db;
  let other: Independent;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    db = createKnex(database.config);
    await migrateLatest(db);
    // A deferred foreign key is checked at COMMIT: an orphan makes the COMMIT itself fail.
    await db.raw('create table gc_parent (id text primary key)');
    await db.raw('create table gc_child (parent text references gc_parent (id) deferrable initially deferred)');
    other = await independent(database);
  });
  afterAll(async () => {
    await other?.close();
    if (db) await closeDatabase(db);
    await database?.drop();
  });

  it('fails every caller of the group and commits none of it; the next group commits', async () => {
    const a = modelRow('AccessToken');
    const b = modelRow('AccessToken');
    const writes = [
      models.upsertModel(db, a),
      writePrepared(db, 'insert into gc_child (parent) values (?)', (s) => s.run('nobody')),
      models.upsertModel(db, b),
    ];
    const settled = await Promise.allSettled(writes);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    expect(await other.row(a.kind, a.id)).toBeUndefined();
    expect(await other.row(b.kind, b.id)).toBeUndefined();
    expect(await db('gc_child').count({ n: '*' })).toEqual([{ n: 0 }]);

    // Alone, the same write fails alone; then the connection takes groups again.
    await expect(writePrepared(db, 'insert into gc_child (parent) values (?)', (s) => s.run('nobody'))).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_FOREIGNKEY',
    });
    const c = modelRow('AccessToken');
    const d = modelRow('AccessToken');
    await Promise.all([models.upsertModel(db, c), models.upsertModel(db, d)]);
    expect(await other.row(c.kind, c.id)).toEqual(c);
    expect(await other.row(d.kind, d.id)).toEqual(d);
  });
});

describe('write transactions in a group commit on SQLite (writeTransaction)', () => {
  let database: TestDatabase;
  let db: Db;
  let other: Independent;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    db = createKnex(database.config);
    await migrateLatest(db);
    other = await independent(database);
  });
  afterAll(async () => {
    await other?.close();
    if (db) await closeDatabase(db);
    await database?.drop();
  });

  it('undoes a failing transaction alone (its savepoint), commits the rest of the group, and settles each after the COMMIT', async () => {
    const existing = modelRow('Client');
    await models.upsertModel(db, existing);
    const a = modelRow('AccessToken');
    const t1 = [modelRow('Grant'), modelRow('Grant')];
    const t2 = modelRow('Grant');
    const t4 = modelRow('Grant');
    const b = modelRow('AccessToken');
    const seen: Record<string, unknown> = {};
    const look = (name: string, row: models.OidcModelRow) => () => other.row(row.kind, row.id).then((found) => (seen[name] = found));
    const writes = {
      a: models.upsertModel(db, a).then(look('a', a)),
      t1: writeTransaction(db, async (tx) => {
        for (const row of t1) await models.upsertModel(tx, row);
        return 'first';
      }).then(async (value) => {
        await look('t1', t1[1]!)();
        return value;
      }),
      // Its first statement ran; then it failed: the statement goes with it.
      t2: writeTransaction(db, async (tx) => {
        await models.upsertModel(tx, t2);
        throw new Error('second failed');
      }),
      // A unique violation inside a transaction.
      t3: writeTransaction(db, async (tx) => tx.insert('oidc_model', existing)),
      // A transaction that waits a turn of the event loop in the middle still belongs to the group.
      t4: writeTransaction(db, async (tx) => {
        await new Promise((resolve) => setImmediate(resolve));
        await models.upsertModel(tx, t4);
      }).then(look('t4', t4)),
      b: models.upsertModel(db, b).then(look('b', b)),
    };
    const settled = await Promise.allSettled(Object.values(writes));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect(await writes.t1).toBe('first');
    await expect(writes.t2).rejects.toThrow('second failed');
    await expect(writes.t3).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    // Seen committed by the independent connection when each promise resolved.
    expect(seen).toEqual({ a, t1: t1[1], t4, b });
    expect(await other.row(t1[0]!.kind, t1[0]!.id)).toEqual(t1[0]);
    expect(await other.row(t2.kind, t2.id)).toBeUndefined();
    expect(await other.row(existing.kind, existing.id)).toEqual(existing);
  });
});

describe('the statement cache on SQLite', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    db = createKnex(database.config);
    await migrateLatest(db);
  });
  afterAll(async () => {
    if (db) await closeDatabase(db);
    await database?.drop();
  });

  it('keeps answering rightly past its bound of 500 statements (varying whereIn lists), and evicted statements prepare again', async () => {
    const rows = Array.from({ length: 30 }, () => modelRow('CacheToken'));
    await db('oidc_model').insert(rows);
    const ids = rows.map((row) => row.id);
    // 600 distinct statements: a list of n ids, padded with ids that match nothing.
    for (let n = 1; n <= 600; n += 1) {
      const list = [...ids.slice(0, Math.min(n, 30)), ...Array.from({ length: Math.max(0, n - 30) }, (_, i) => `none-${i}`)];
      const [counted] = (await db('oidc_model').where('kind', 'CacheToken').whereIn('id', list).count({ n: '*' })) as { n: number }[];
      expect(counted?.n, `a list of ${n}`).toBe(Math.min(n, 30));
    }
    // The first of them were evicted: prepared again, they still answer.
    expect(await db('oidc_model').where('kind', 'CacheToken').whereIn('id', ids.slice(0, 1)).count({ n: '*' })).toEqual([{ n: 1 }]);
    expect(await db.raw('select ? + 1 as n', [41])).toEqual([{ n: 42 }]);
    // The fast path's own statements (begin immediate, commit, the upsert) were evicted too: a group still commits.
    const group = Array.from({ length: 3 }, () => modelRow('CacheToken'));
    await Promise.all(group.map((row) => models.upsertModel(db, row)));
    expect(await models.findModel(db, 'CacheToken', group[2]!.id)).toEqual(group[2]);
  });

  it('gives knex the rows of insert … returning and the change counts of updates and deletes, from cached statements too', async () => {
    for (let round = 0; round < 2; round += 1) {
      const inserted = await db('rate_limit')
        .insert({ name: `cache-${round}`, hits: 1, ends_at: now })
        .returning(['name', 'hits']);
      expect(inserted).toEqual([{ name: `cache-${round}`, hits: 1 }]);
      const rows = Array.from({ length: 3 + round }, () => modelRow(`Changes${round}`));
      await db('oidc_model').insert(rows);
      // The same SQL each round (cached after the first), other bindings and counts.
      expect(await db('oidc_model').where('kind', `Changes${round}`).update({ payload: '{"u":1}' })).toBe(3 + round);
      expect(await db('oidc_model').where('kind', `Changes${round}`).whereNull('consumed_at').update({ consumed_at: now })).toBe(3 + round);
      expect(await db('oidc_model').where('kind', `Changes${round}`).whereNull('consumed_at').update({ consumed_at: now })).toBe(0);
      expect(
        await db('oidc_model')
          .where({ kind: `Changes${round}`, id: rows[0]!.id })
          .delete(),
      ).toBe(1);
      expect(
        await db('oidc_model')
          .where({ kind: `Changes${round}` })
          .delete(),
      ).toBe(2 + round);
      expect(
        await db('oidc_model')
          .where({ kind: `Changes${round}` })
          .first(),
      ).toBeUndefined();
    }
    // Inside a transaction (its own BEGIN and COMMIT statements cached too).
    for (let round = 0; round < 2; round += 1) {
      const changed = await withTransaction(db, async (trx) => {
        await trx('rate_limit').insert({ name: `trx-${round}`, hits: 1, ends_at: now });
        return trx('rate_limit')
          .where({ name: `trx-${round}` })
          .update({ hits: 5 });
      });
      expect(changed).toBe(1);
      expect(
        await db('rate_limit')
          .where({ name: `trx-${round}` })
          .first('hits'),
      ).toEqual({ hits: 5 });
    }
  });
});

describe('the checkpoint thread', () => {
  let database: TestDatabase;
  let db: Db;
  let filename: string;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    filename = filenameOf(database);
    db = createKnex(database.config);
    await migrateLatest(db);
  });
  afterAll(async () => {
    if (db) await closeDatabase(db);
    await database?.drop();
  });

  /** Starts the thread and gives it (each start that made one calls unref on its Worker). */
  function started(on: Db, everyMs: number): Worker[] {
    const unref = vi.spyOn(Worker.prototype, 'unref');
    try {
      startCheckpoints(on, undefined, everyMs, 0);
      return unref.mock.contexts as Worker[];
    } finally {
      unref.mockRestore();
    }
  }

  it('checkpoints the WAL of a file database now and then, off the request thread, and its end ends the thread', async () => {
    await Promise.all(Array.from({ length: 50 }, () => models.upsertModel(db, modelRow('AccessToken'))));
    const written = walIndex(filename);
    // Nothing checkpointed yet (wal_autocheckpoint is 10,000 pages).
    expect(written.mxFrame).toBeGreaterThan(0);
    expect(written.nBackfill).toBeLessThan(written.mxFrame);
    const descriptors = openDescriptors(filename);

    const workers = started(db, 25);
    expect(workers).toHaveLength(1);
    const worker = workers[0]!;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    // A second start for the same database makes no second thread.
    expect(started(db, 25)).toHaveLength(0);

    await vi.waitFor(
      () => {
        const index = walIndex(filename);
        expect(index.mxFrame).toBeGreaterThan(0);
        expect(index.nBackfill).toBe(index.mxFrame);
      },
      { timeout: 10_000, interval: 20 },
    );
    // The thread holds a connection of its own.
    expect(openDescriptors(filename)).toBe(descriptors + 1);
    // All of the WAL was copied: the next write starts it over from its beginning.
    await models.upsertModel(db, modelRow('AccessToken'));
    expect(walIndex(filename).mxFrame).toBeLessThan(written.mxFrame);

    // Its end is the thread's exit. (Its descriptor cannot tell: SQLite keeps a closed file's descriptor while another
    // connection of the process holds a lock on the file, and a connection in WAL mode always holds one.)
    await stopCheckpoints(db);
    await exited;
    expect(worker.threadId).toBe(-1);
  });

  it('checkpoints once more when stopped (a thread that would run again only in a minute)', async () => {
    const workers = started(db, 60_000);
    expect(workers).toHaveLength(1);
    const exited = new Promise<number>((resolve) => workers[0]!.once('exit', resolve));
    await Promise.all(Array.from({ length: 20 }, () => models.upsertModel(db, modelRow('AccessToken'))));
    const written = walIndex(filename);
    expect(written.nBackfill).toBeLessThan(written.mxFrame);
    await stopCheckpoints(db);
    await exited;
    const index = walIndex(filename);
    expect(index.mxFrame).toBe(written.mxFrame);
    expect(index.nBackfill).toBe(index.mxFrame);
  });

  it('starts the thread once enough commits were made, and keeps the locks of the process: another process opening the file disturbs nothing', async () => {
    // A database of its own: nothing in this process reads its files (walIndex would: closing a descriptor drops the process's POSIX locks).
    const own = await createTestDatabase('sqlite');
    const ownFile = filenameOf(own);
    const ownDb = createKnex(own.config);
    await migrateLatest(ownDb);
    // The WAL index and the row count as another process sees them (a child opens, reads, closes).
    const peek = async () => {
      const script = `import fs from 'node:fs'; import { createRequire } from 'node:module';
        const Database = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))})('better-sqlite3');
        const shm = fs.readFileSync(process.argv[2] + '-shm'); const db = new Database(process.argv[2], { fileMustExist: true });
        const n = db.prepare("select count(*) as n from oidc_model where kind = 'Locks'").get().n; db.close();
        process.stdout.write(JSON.stringify({ mxFrame: shm.readUInt32LE(16), nBackfill: shm.readUInt32LE(96), n }));`;
      const result = await runChild(script.replace(/\n\s*/g, ' '), [ownFile]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { mxFrame: number; nBackfill: number; n: number };
    };
    const write = (i: number) => models.upsertModel(ownDb, modelRow('Locks', { id: `locks-${i}` }));
    try {
      const unref = vi.spyOn(Worker.prototype, 'unref');
      let threads: Worker[];
      try {
        startCheckpoints(ownDb, undefined, 10, 5);
        // Below the threshold no thread.
        for (let i = 0; i < 4; i += 1) await write(i);
        expect(unref).not.toHaveBeenCalled();
        for (let i = 4; i < 20; i += 1) await write(i);
        await vi.waitFor(() => expect(unref).toHaveBeenCalled(), { timeout: 10_000, interval: 10 });
        threads = unref.mock.contexts as Worker[];
      } finally {
        unref.mockRestore();
      }
      expect(threads).toHaveLength(1);
      await vi.waitFor(
        async () => {
          const index = await peek();
          expect(index.nBackfill).toBe(index.mxFrame);
        },
        { timeout: 10_000, interval: 50 },
      );
      // SQLite's "someone has this open" lock on the WAL index (its DMS byte, 128) is still this process's: another process cannot
      // take it (it would take itself for the first one, and reset the WAL index under this one: SIGBUS).
      const lock = await execFileAsync('python3', ['-c', dmsProbe, `${ownFile}-shm`]);
      expect(lock.stdout.trim()).toBe('held');
      // Other processes open and close the file while this one goes on writing (the CLI next to a server).
      for (let round = 1; round <= 3; round += 1) {
        expect((await peek()).n).toBe(20 * round);
        for (let i = 20 * round; i < 20 * (round + 1); i += 1) await write(i);
      }
      expect((await peek()).n).toBe(80);
      expect((await models.findModel(ownDb, 'Locks', 'locks-79'))?.id).toBe('locks-79');
    } finally {
      await closeDatabase(ownDb);
      await own.drop();
    }
  });

  it('starts no thread for a :memory: database nor for PostgreSQL', async () => {
    const memory = createKnex({ client: 'sqlite', filename: ':memory:' });
    // No connection is made: startCheckpoints only looks at the client.
    const postgres = createKnex({ client: 'postgres', url: 'postgres://gatehouse@127.0.0.1:1/none' });
    try {
      await memory.raw('select 1');
      expect(started(memory, 25)).toHaveLength(0);
      expect(started(postgres, 25)).toHaveLength(0);
    } finally {
      await closeDatabase(memory);
      await closeDatabase(postgres);
    }
  });

  it.each(['checkpoints', 'close', 'none'] as const)('lets a process end by itself with the thread running (%s)', async (mode) => {
    const result = await runChild(checkpointingWriter, [JSON.stringify(database.config), mode], 30_000);
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 0, signal: null });
    expect(result.stdout).toBe(mode === 'none' ? 'closed\n' : 'checkpointed\nclosed\n');
  });
});
