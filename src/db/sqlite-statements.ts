/**
 * The SQLite fast path for the hottest queries (oidc-provider's adapter: every
 * token is an insert, every request several reads). knex re-builds and
 * re-prepares each statement; here each statement is prepared once per
 * connection.
 * - Writes (`runPrepared`) run on knex's own single connection, borrowed from
 *   its pool between two awaits, so they never run inside someone else's
 *   transaction.
 * - Reads (`readPrepared`) run on a second, read-only connection to the same
 *   file: in WAL mode it sees every committed write and never waits for the
 *   writer, and it skips the pool. A `:memory:` database has no second
 *   connection (it would be another database), so its reads take the pool path.
 * Both bypass knex's query path, so they turn SQLite's outage errors
 * (SQLITE_BUSY…) into `database.unavailable` themselves.
 */
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { reported, type Db } from './knex.ts';

const statements = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();
const readers = new WeakMap<Db, BetterSqlite3.Database | null>();

interface PoolClient {
  acquireConnection(): Promise<BetterSqlite3.Database>;
  releaseConnection(conn: BetterSqlite3.Database): Promise<void>;
  config: { connection?: { filename?: string } };
}

function prepared(conn: BetterSqlite3.Database, sql: string): BetterSqlite3.Statement {
  let cache = statements.get(conn);
  if (!cache) statements.set(conn, (cache = new Map()));
  let statement = cache.get(sql);
  if (!statement) cache.set(sql, (statement = conn.prepare(sql)));
  return statement;
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

/** A read outside any transaction: on the read-only connection when there is one. */
export async function readPrepared<T>(db: Db, sql: string, use: (statement: BetterSqlite3.Statement) => T): Promise<T> {
  try {
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
