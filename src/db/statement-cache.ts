/**
 * Prepared SQLite statements, kept per connection: preparing costs more than
 * running most of our statements (measured: about a third of a registration,
 * bench/README.md). Both doors to better-sqlite3 use it: the fast path
 * (./sqlite-statements.ts) and knex's own queries (./knex.ts). Statements built
 * with a varying number of placeholders (`whereIn` lists) would grow the cache
 * without end, so it keeps the last `maxStatements` prepared per connection.
 */
import type BetterSqlite3 from 'better-sqlite3';

const maxStatements = 500;
const caches = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

export function prepared(conn: BetterSqlite3.Database, sql: string): BetterSqlite3.Statement {
  let cache = caches.get(conn);
  if (!cache) caches.set(conn, (cache = new Map()));
  let statement = cache.get(sql);
  if (!statement) {
    statement = conn.prepare(sql);
    // The oldest prepared goes first: a hot statement dropped this way is prepared again at its next use.
    if (cache.size >= maxStatements) cache.delete(cache.keys().next().value as string);
    cache.set(sql, statement);
  }
  return statement;
}
