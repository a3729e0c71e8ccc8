/**
 * The knex factory and the dialect quirks, in one place.
 * SQLite: one connection (knex with a better-sqlite3 pool above one is known to
 * break), WAL, a busy timeout for other processes (the CLI) and foreign keys on.
 * PostgreSQL: BIGINT columns come back as numbers (our timestamps are epoch ms).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config/schema.ts';

export type Db = Knex;
export type DbOrTrx = Knex | Knex.Transaction;

pg.types.setTypeParser(20, (value: string) => Number.parseInt(value, 10));

export function createKnex(database: Config['database']): Db {
  if (database.client === 'sqlite') {
    if (database.filename !== ':memory:') mkdirSync(path.dirname(database.filename), { recursive: true });
    return knexFactory({
      client: 'better-sqlite3',
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
          done(null, conn);
        },
      },
    });
  }
  return knexFactory({
    client: 'pg',
    connection: database.url,
    pool: { min: database.pool?.min ?? 0, max: database.pool?.max ?? 10 },
  });
}

export function isSqlite(db: DbOrTrx): boolean {
  return db.client.config.client === 'better-sqlite3';
}

/** Unique-constraint violation on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
