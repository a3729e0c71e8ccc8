/**
 * The SQLite fast path for the hottest queries (oidc-provider's adapter: every
 * token is an insert, every request several reads). knex re-builds and
 * re-prepares each statement; here the statement is prepared once per
 * connection and run on knex's own single connection, borrowed from its pool
 * between two awaits, so it never runs inside someone else's transaction.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Db } from './knex.ts';

const statements = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

interface PoolClient {
  acquireConnection(): Promise<BetterSqlite3.Database>;
  releaseConnection(conn: BetterSqlite3.Database): Promise<void>;
}

export async function runPrepared<T>(db: Db, sql: string, use: (statement: BetterSqlite3.Statement) => T): Promise<T> {
  const client = db.client as unknown as PoolClient;
  const conn = await client.acquireConnection();
  try {
    let cache = statements.get(conn);
    if (!cache) statements.set(conn, (cache = new Map()));
    let statement = cache.get(sql);
    if (!statement) cache.set(sql, (statement = conn.prepare(sql)));
    return use(statement);
  } finally {
    await client.releaseConnection(conn);
  }
}
