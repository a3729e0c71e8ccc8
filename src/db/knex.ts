/**
 * The knex factory: each database's connection settings. Every other
 * difference between the two is decided in ./flavor.ts.
 * SQLite: one connection (knex with a better-sqlite3 pool above one is known to
 * break), WAL, a busy timeout for other processes (the CLI) and foreign keys on.
 * PostgreSQL: BIGINT columns come back as numbers (our timestamps are epoch ms);
 * a server that is down fails a request within seconds (no connection in
 * acquireConnectionTimeout) and the pool reconnects on its own once it is back.
 * Both: a driver error that means "the database is not there" leaves knex as
 * `database.unavailable` (./unavailable.ts), from queries, transactions and
 * connection attempts alike.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import BetterSqlite3Client from 'knex/lib/dialects/better-sqlite3/index.js';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { prepared } from './statement-cache.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../lib/logger.ts';
import { GatehouseError } from '../errors.ts';
import { asDatabaseError } from './unavailable.ts';

export type Db = Knex;
export type DbOrTrx = Knex | Knex.Transaction;

/** PostgreSQL's driver and knex's dialect for it, loaded only for a PostgreSQL database (~6 MB of memory otherwise spent on SQLite). */
const requireLazily = createRequire(import.meta.url);
let pgClass: typeof Knex.Client | undefined;
function postgresClient(): typeof Knex.Client {
  if (!pgClass) {
    const pg = requireLazily('pg') as typeof import('pg');
    pg.types.setTypeParser(20, (value: string) => Number.parseInt(value, 10));
    pgClass = reportingOutages(requireLazily('knex/lib/dialects/postgres/index.js') as typeof Knex.Client);
  }
  return pgClass;
}

/** How long a request waits for a connection (or for a server to accept one) before it is answered 503. */
const connectTimeoutMs = 5000;

/**
 * An outage error, told to the log once where it happens: the 503 it becomes
 * may leave through oidc-provider, which logs nothing for it.
 */
export function reported(client: Knex.Client, err: unknown): unknown {
  const converted = asDatabaseError(err);
  if (converted !== err && converted instanceof GatehouseError) {
    client.logger.warn?.(`database unavailable (${String(converted.details?.driverCode)}): ${String(converted.details?.reason)}`);
  }
  return converted;
}

/**
 * A dialect client whose two doors to the driver, taking a connection and
 * running a query, turn outage errors into `database.unavailable`. Transactions
 * build their client from this class's prototype, so they are covered too.
 */
function reportingOutages(Base: typeof Knex.Client): typeof Knex.Client {
  return class extends Base {
    override async acquireConnection(): Promise<unknown> {
      try {
        return await super.acquireConnection();
      } catch (err) {
        throw reported(this, err);
      }
    }

    override async query(connection: unknown, obj: unknown): Promise<unknown> {
      try {
        return await super.query(connection, obj);
      } catch (err) {
        throw reported(this, err);
      }
    }
  };
}

/**
 * knex's better-sqlite3 client prepares every statement anew; this one takes
 * it from the connection's cache of prepared statements (./statement-cache.ts).
 * The rest is knex's own `_query`: readers give their rows, writers their
 * changes and last row id.
 */
class CachingSqliteClient extends (BetterSqlite3Client as unknown as new (config: Knex.Config) => Knex.Client) {
  /** The pool's one connection, for reads between transactions (./sqlite-statements.ts `readPrepared`). */
  writer: BetterSqlite3.Database | undefined;

  override async acquireRawConnection(): Promise<BetterSqlite3.Database> {
    const conn = await (super.acquireRawConnection as () => Promise<BetterSqlite3.Database>)();
    this.writer = conn;
    return conn;
  }

  async _query(connection: BetterSqlite3.Database, obj: { sql?: string; bindings?: unknown[]; response?: unknown; context?: unknown }): Promise<unknown> {
    if (!obj.sql) throw new Error('The query is empty');
    if (!connection) throw new Error('No connection provided');
    const statement = prepared(connection, obj.sql);
    const bindings = (this as unknown as { _formatBindings(b: unknown[] | undefined): unknown[] })._formatBindings(obj.bindings);
    if (statement.reader) {
      obj.response = statement.all(bindings);
      return obj;
    }
    const response = statement.run(bindings);
    obj.response = response;
    obj.context = { lastID: response.lastInsertRowid, changes: response.changes };
    return obj;
  }
}

const SqliteClient = reportingOutages(CachingSqliteClient as unknown as typeof Knex.Client);

/** knex's own warnings (a failed connection attempt, a dropped connection) as log records, not console lines. */
function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  if (!logger) return undefined;
  const line = (message: unknown) => String(message).split('\n')[0] ?? '';
  return {
    // A failed connection attempt is told once, by `reported` below, with the driver's code.
    warn: (message: unknown) =>
      line(message).startsWith('Acquire connection error') ? logger.debug({ source: 'knex' }, line(message)) : logger.warn({ source: 'knex' }, line(message)),
    error: (message: unknown) => logger.error({ source: 'knex' }, line(message)),
    deprecate: (method: unknown, alternative: unknown) => logger.warn({ source: 'knex' }, `${String(method)} is deprecated, use ${String(alternative)}`),
    debug: () => undefined,
  };
}

export function createKnex(database: Config['database'], logger?: Logger): Db {
  const log = knexLog(logger);
  if (database.client === 'sqlite') {
    if (database.filename !== ':memory:') mkdirSync(path.dirname(database.filename), { recursive: true });
    return knexFactory({
      client: SqliteClient,
      ...(log ? { log } : {}),
      connection: { filename: database.filename },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 5000');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          // Checkpoints fsync on the request thread; fewer, larger ones cost far less per write.
          conn.pragma('wal_autocheckpoint = 10000');
          // Savepoint journals (a group commit's transactions, ./sqlite-statements.ts) and sorts in memory: past
          // 64 KiB SQLite spilled them to a new temporary file, created and unlinked in the request thread.
          conn.pragma('temp_store = MEMORY');
          done(null, conn);
        },
      },
    });
  }
  return knexFactory({
    client: postgresClient(),
    ...(log ? { log } : {}),
    connection: { connectionString: database.url, connectionTimeoutMillis: connectTimeoutMs },
    acquireConnectionTimeout: connectTimeoutMs,
    pool: { min: database.pool?.min ?? 0, max: database.pool?.max ?? 10 },
  });
}
