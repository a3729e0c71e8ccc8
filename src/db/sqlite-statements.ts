/**
 * The SQLite fast path for the hottest queries (oidc-provider's adapter: every
 * token is an insert, every request several reads). knex re-builds and
 * re-prepares each statement; here each statement is prepared once per
 * connection (./statement-cache.ts).
 * - Statements on knex's own single connection (`runPrepared`, and the
 *   groups below) borrow it from its pool between two awaits, so they never
 *   run inside someone else's knex transaction.
 * - Reads (`readPrepared`) run on knex's connection while no transaction is
 *   open on it, else on a second, read-only connection to the same file: in
 *   WAL mode it sees every committed write and never waits for the writer.
 *   Both skip the pool. A `:memory:` database has no second connection (it
 *   would be another database), so its reads during a transaction take the
 *   pool path (and wait for the transaction's end).
 * - Hot writes (`writePrepared`: tokens, sessions, consumed codes, limit
 *   counters) are committed in groups: every write asked for within one turn
 *   of the event loop runs in one transaction on that connection, and each
 *   caller's promise settles only after the COMMIT (a 2xx is durable before it
 *   is sent, as with one transaction per write). One commit then writes each
 *   touched page once instead of once per write. A statement that fails (a
 *   constraint) fails its own caller only: SQLite undoes that statement and
 *   the transaction goes on; a failed COMMIT fails every caller of the group.
 * All three bypass knex's query path, so they turn SQLite's outage errors
 * (SQLITE_BUSY…) into `database.unavailable` themselves.
 */
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { reported, type Db } from './knex.ts';
import { prepared } from './statement-cache.ts';

const readers = new WeakMap<Db, BetterSqlite3.Database | null>();

interface PoolClient {
  acquireConnection(): Promise<BetterSqlite3.Database>;
  releaseConnection(conn: BetterSqlite3.Database): Promise<void>;
  config: { connection?: { filename?: string } };
}

export async function runPrepared<T>(db: Db, sql: string, use: (statement: BetterSqlite3.Statement) => T): Promise<T> {
  const client = db.client as unknown as PoolClient;
  const conn = await client.acquireConnection();
  try {
    return use(prepared(conn, sql));
  } catch (err) {
    throw reported(db.client, err);
  } finally {
    await client.releaseConnection(conn);
  }
}

interface QueuedWrite {
  /** One statement, or (`whole`) a transaction's work, run in a savepoint of the group. */
  run: (conn: BetterSqlite3.Database) => unknown;
  whole: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const writeQueues = new WeakMap<Db, QueuedWrite[]>();
/** Group commits made on each database by this process (./sqlite-checkpointer.ts checkpoints by it). */
const commits = new WeakMap<Db, number>();

/** How many group commits this process has made on `db` (a single write committed alone counts as one). */
export function commitCount(db: Db): number {
  return commits.get(db) ?? 0;
}

function enqueue<T>(db: Db, run: (conn: BetterSqlite3.Database) => T | Promise<T>, whole: boolean): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let queue = writeQueues.get(db);
    if (!queue) {
      writeQueues.set(db, (queue = []));
      setImmediate(() => void commitGroup(db));
    }
    queue.push({ run, whole, resolve: resolve as (value: unknown) => void, reject });
  });
}

/** A write outside any transaction, committed together with the other writes of this event-loop turn. */
export function writePrepared<T>(db: Db, sql: string, use: (statement: BetterSqlite3.Statement) => T): Promise<T> {
  return enqueue(db, (conn) => use(prepared(conn, sql)), false);
}

/**
 * A transaction's statements on the group's connection (`writeTransaction`):
 * synchronous, prepared once per connection, outage errors reported as
 * `database.unavailable`, unique violations left for `insertUnique`.
 */
export class SqliteTx {
  constructor(
    private readonly conn: BetterSqlite3.Database,
    private readonly db: Db,
  ) {}

  /** Runs a write; gives the rows it changed. */
  run(sql: string, ...params: unknown[]): number {
    return this.use(sql, (s) => s.run(...bindable(params)).changes);
  }

  /** Inserts one row (table and column names are ours, never input); `conflict` e.g. `on conflict do nothing`. */
  insert(table: string, row: object, conflict = ''): number {
    const columns = definedColumns(row);
    const sql = `insert into ${table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')}) ${conflict}`;
    return this.run(sql, ...columns.map((c) => (row as Record<string, unknown>)[c]));
  }

  /** Sets `set`'s columns (those not undefined) in the rows `where` picks (names are ours, never input); gives the rows changed. */
  update(table: string, set: object, where: string, ...params: unknown[]): number {
    const columns = definedColumns(set);
    if (columns.length === 0) throw new Error(`update ${table}: nothing to set`);
    const sql = `update ${table} set ${columns.map((c) => `${c} = ?`).join(', ')} where ${where}`;
    return this.run(sql, ...columns.map((c) => (set as Record<string, unknown>)[c]), ...params);
  }

  get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.use(sql, (s) => s.get(...bindable(params)) as T | undefined);
  }

  all<T>(sql: string, ...params: unknown[]): T[] {
    return this.use(sql, (s) => s.all(...bindable(params)) as T[]);
  }

  private use<T>(sql: string, work: (statement: BetterSqlite3.Statement) => T): T {
    try {
      return work(prepared(this.conn, sql));
    } catch (err) {
      throw reported(this.db.client, err);
    }
  }
}

/** The columns of `row` that have a value (undefined ones are left out, as knex does). */
function definedColumns(row: object): string[] {
  return Object.keys(row).filter((k) => (row as Record<string, unknown>)[k] !== undefined);
}

/** What better-sqlite3 binds: booleans as 0/1 and undefined as NULL, as knex does. */
function bindable(params: unknown[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? Number(p) : p === undefined ? null : p));
}

/**
 * A transaction committed with the other writes of this event-loop turn: its
 * work runs in a savepoint of the group's transaction (a failure undoes its
 * statements only), and the promise settles after the COMMIT. The work must
 * use only the SqliteTx it is given: the connection is the group's.
 */
export function writeTransaction<T>(db: Db, work: (tx: SqliteTx) => Promise<T>): Promise<T> {
  return enqueue(db, (conn) => work(new SqliteTx(conn, db)), true);
}

async function commitGroup(db: Db): Promise<void> {
  const queue = writeQueues.get(db) ?? [];
  // Writes asked for from now on form the next group (scheduled by the first of them).
  writeQueues.delete(db);
  const client = db.client as unknown as PoolClient;
  let conn: BetterSqlite3.Database;
  try {
    conn = await client.acquireConnection();
  } catch (err) {
    for (const write of queue) write.reject(err);
    return;
  }
  try {
    const [only] = queue;
    if (queue.length === 1 && only && !only.whole) {
      try {
        only.resolve(only.run(conn));
        commits.set(db, commitCount(db) + 1);
      } catch (err) {
        only.reject(reported(db.client, err));
      }
      return;
    }
    const done: { write: QueuedWrite; result?: unknown; error?: unknown; failed: boolean }[] = [];
    try {
      prepared(conn, 'begin immediate').run();
      for (const write of queue) {
        if (write.whole) prepared(conn, 'savepoint gh_write').run();
        try {
          done.push({ write, result: write.whole ? await write.run(conn) : write.run(conn), failed: false });
          if (write.whole) prepared(conn, 'release gh_write').run();
        } catch (err) {
          done.push({ write, error: reported(db.client, err), failed: true });
          if (write.whole && conn.inTransaction) {
            prepared(conn, 'rollback to gh_write').run();
            prepared(conn, 'release gh_write').run();
          }
        }
        // A statement SQLite could not undo alone (disk full, I/O) ended the whole transaction: nothing of it holds.
        if (!conn.inTransaction) throw done.at(-1)?.error ?? new Error('the group transaction ended early');
      }
      prepared(conn, 'commit').run();
      commits.set(db, commitCount(db) + 1);
    } catch (err) {
      if (conn.inTransaction) {
        try {
          prepared(conn, 'rollback').run();
        } catch {
          // The connection is closed or broken: the transaction is gone with it.
        }
      }
      const failure = reported(db.client, err);
      for (const write of queue) write.reject(failure);
      return;
    }
    for (const { write, result, error, failed } of done) {
      if (failed) write.reject(error);
      else write.resolve(result);
    }
  } finally {
    await client.releaseConnection(conn);
  }
}

function reader(db: Db): BetterSqlite3.Database | null {
  let conn = readers.get(db);
  if (conn === undefined) {
    const filename = (db.client as unknown as PoolClient).config.connection?.filename;
    // Opened after knex's own connection made the file and set WAL mode (reads come after migrations).
    conn = filename && filename !== ':memory:' ? new Database(filename, { readonly: true, fileMustExist: true, timeout: 5000 }) : null;
    readers.set(db, conn);
  }
  return conn;
}

/**
 * A read outside any transaction: on knex's connection when no transaction is
 * open on it (a read there sees only committed rows, and its page cache stays
 * warm: the writer's own commits do not drop it, while every commit drops the
 * other connection's), else on the read-only connection when there is one.
 * Both skip the pool: a read is one synchronous statement.
 */
export async function readPrepared<T>(db: Db, sql: string, use: (statement: BetterSqlite3.Statement) => T): Promise<T> {
  try {
    const writer = (db.client as { writer?: BetterSqlite3.Database }).writer;
    if (writer?.open && !writer.inTransaction) return use(prepared(writer, sql));
    const conn = reader(db);
    if (conn) return use(prepared(conn, sql));
  } catch (err) {
    throw reported(db.client, err);
  }
  return runPrepared(db, sql, use);
}

/** Closes the read-only connection (with the knex instance, see context.ts). */
export function closeReader(db: Db): void {
  readers.get(db)?.close();
  readers.delete(db);
}
