/**
 * A fresh database per test suite: a temp SQLite file, or a PostgreSQL database
 * created for the suite and dropped afterwards. `databaseKinds` is what storage
 * tests iterate over: both, or SQLite alone with a loud skip message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { closeDatabase } from '../../src/db/flavor.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { postgresAvailable, postgresUrl } from './services.ts';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestDatabase {
  kind: DatabaseKind;
  config: Config['database'];
  dir: string;
  drop(): Promise<void>;
}

export const databaseKinds: DatabaseKind[] = (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];

export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-'));
  if (kind === 'sqlite') {
    return {
      kind,
      dir,
      config: { client: 'sqlite', filename: path.join(dir, 'gatehouse.sqlite') },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `gatehouse_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    dir,
    config: { client: 'postgres', url: url.href },
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh database of `kind`, migrated, for the tests of the `describe` block
 * this is called in (made before them, closed and dropped after them). `db()`
 * is read inside tests, once the hooks have run.
 */
export function useMigratedDatabase(kind: DatabaseKind): { db(): Db } {
  let database: TestDatabase | undefined;
  let db: Db | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createKnex(database.config);
    await migrateLatest(db);
  });
  afterAll(async () => {
    if (db) await closeDatabase(db);
    await database?.drop();
  });
  return {
    db() {
      if (!db) throw new Error('the database is made in beforeAll: read it inside a test');
      return db;
    },
  };
}
