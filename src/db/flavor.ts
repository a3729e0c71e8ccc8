/**
 * The database flavour: every place where SQLite and PostgreSQL need different
 * SQL or different locking is decided here (Dex's `flavor`), so code above
 * src/db/ names an intention (`lockForCounting(trx, 'registration')`) and never
 * a dialect. The parts:
 * - locks: the write lock every SQLite transaction takes first, the counting
 *   locks under which a limit over many rows holds, the start-up lock, row locks;
 * - errors: a unique violation (→ `already_exists`) and an outage
 *   (→ `database.unavailable`, the detail in ./unavailable.ts);
 * - SQL that differs: reading a JSON field, the reachability probe;
 * - the SQLite fast path (./sqlite-statements.ts) and when it may be taken.
 * The knex factory (./knex.ts) holds the per-dialect connection settings.
 */
import type { Knex } from 'knex';
import { GatehouseError } from '../errors.ts';
import type { Db, DbOrTrx } from './knex.ts';
import { closeReader, readPrepared, SqliteTx, writePrepared } from './sqlite-statements.ts';
import { stopCheckpoints } from './sqlite-checkpointer.ts';

export { asDatabaseError, isDatabaseUnavailable } from './unavailable.ts';

export type Flavor = 'sqlite' | 'postgres';

export function flavorOf(db: DbOrTrx): Flavor {
  return db.client.driverName === 'better-sqlite3' ? 'sqlite' : 'postgres';
}

export function isSqlite(db: DbOrTrx): boolean {
  return flavorOf(db) === 'sqlite';
}

/**
 * The first statement of every transaction (../transaction.ts). On SQLite a
 * write to the one-row lock table takes the write lock at BEGIN time (the
 * effect of BEGIN IMMEDIATE): a transaction that reads and then writes can then
 * never hit SQLITE_BUSY half-way when another process (the CLI) writes at the
 * same time. PostgreSQL locks rows as they are written and needs nothing here.
 */
export async function beginDecision(trx: Knex.Transaction): Promise<void> {
  if (isSqlite(trx)) await trx('write_lock').where({ id: 1 }).update({ id: 1 });
}

/**
 * Limits over many rows (maxClients counts registered clients) hold only if
 * the transactions that count take turns. Each counter has its own
 * PostgreSQL advisory lock, held until commit; on SQLite the write lock taken
 * by beginDecision already serializes every transaction.
 */
const countingLocks = { registration: 7591 } as const;

export type CountingLock = keyof typeof countingLocks;

export async function lockForCounting(trx: Knex.Transaction | SqliteTx, counter: CountingLock): Promise<void> {
  if (!(trx instanceof SqliteTx) && !isSqlite(trx)) await trx.raw('select pg_advisory_xact_lock(?)', [countingLocks[counter]]);
}

/**
 * Serializes the start-up work of several instances on one database (the
 * lock row, held until commit; on SQLite the transaction holds it already):
 * two instances starting at once would otherwise both see "nothing made yet"
 * and both make it.
 */
export async function lockForStartup(trx: Knex.Transaction): Promise<void> {
  await trx('write_lock').where({ id: 1 }).update({ id: 1 });
}

/** Locks the rows a query selects until the transaction ends (SQLite: the transaction's write lock already covers them). */
export async function lockRows(trx: DbOrTrx, rows: Knex.QueryBuilder): Promise<void> {
  if (!isSqlite(trx)) await rows.forUpdate();
}

/** An SQL expression for the text of one top-level field of a JSON text column (both names are constants in a repository, never input). */
export function jsonText(db: DbOrTrx, column: string, field: string): string {
  return isSqlite(db) ? `json_extract(${column}, '$.${field}')` : `(${column}::json ->> '${field}')`;
}

/** One round trip to the server (readiness): throws `database.unavailable` when it cannot be reached. */
export async function probe(db: DbOrTrx): Promise<void> {
  await db.raw('select 1');
}

/** Unique-constraint violation on either database: 23505 on PostgreSQL, the CONSTRAINT_UNIQUE/PRIMARYKEY result codes on SQLite. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Runs an insert; a unique violation leaves as `already_exists` naming `what`, as every repository reports it. */
export async function insertUnique<T>(work: PromiseLike<T>, what: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (isUniqueViolation(err)) throw new GatehouseError('already_exists', `${what} already exists`, undefined, { cause: err });
    throw err;
  }
}

/**
 * The SQLite fast path (./sqlite-statements.ts) is for statements outside any
 * transaction: inside one, knex's connection is the transaction's own.
 */
export function usesFastPath(db: DbOrTrx): boolean {
  return isSqlite(db) && !(db as { isTransaction?: boolean }).isTransaction;
}

/**
 * A hot write with RETURNING outside any transaction (the limit counters):
 * on SQLite committed with the other writes of the same moment
 * (./sqlite-statements.ts), on PostgreSQL one statement. Gives the rows.
 */
export function writeReturning(db: Db, sql: string, bindings: readonly unknown[]): Promise<unknown[]> {
  if (usesFastPath(db))
    return writePrepared(db, sql, (statement) => {
      if (statement.reader) return statement.all(...bindings);
      statement.run(...bindings);
      return [];
    });
  return db.raw(sql, [...bindings] as Knex.RawBinding[]).then((result) => (result as { rows: unknown[] }).rows);
}

/**
 * A hot read outside any transaction (the sign-in's lookups): on SQLite a
 * prepared statement on the read-only connection (./sqlite-statements.ts),
 * undefined elsewhere, where the caller's knex query runs instead. Table and
 * column names in `sql` are ours, never input.
 */
export async function fastRead<T>(db: DbOrTrx, sql: string, ...params: unknown[]): Promise<T[] | undefined> {
  if (!usesFastPath(db)) return undefined;
  return readPrepared(db as Db, sql, (statement) => statement.all(...params) as T[]);
}

/** A read outside any transaction by SQL (the limit counters' peek): fastRead on SQLite, knex.raw elsewhere. Gives the rows. */
export async function readRows(db: Db, sql: string, bindings: readonly unknown[]): Promise<unknown[]> {
  const fast = await fastRead(db, sql, ...bindings);
  if (fast) return fast;
  return ((await db.raw(sql, [...bindings] as Knex.RawBinding[])) as { rows: unknown[] }).rows;
}

/** A hot write outside any transaction: on SQLite group-committed (./sqlite-statements.ts), undefined elsewhere (the caller's knex query runs). Gives the rows changed. */
export async function fastWrite(db: DbOrTrx, sql: string, ...params: unknown[]): Promise<number | undefined> {
  if (!usesFastPath(db)) return undefined;
  return writePrepared(db as Db, sql, (statement) => statement.run(...params.map((p) => (typeof p === 'boolean' ? Number(p) : (p ?? null)))).changes);
}

/** Closes a database: the checkpoint thread and the fast path's read-only connection (SQLite), then knex's pool. */
export async function closeDatabase(db: Db): Promise<void> {
  await stopCheckpoints(db);
  closeReader(db);
  await db.destroy();
}
