/**
 * Conformance of the knex adapter to oidc-provider's storage contract
 * (upsert, find, findByUid, findByUserCode, consume, destroy, revokeByGrantId,
 * expiry), plus the schema snapshot; the same suite on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest, pendingMigrations, rollbackAll } from '../../src/db/migrate.ts';
import { deleteExpiredModels } from '../../src/db/repos/oidc-models.ts';
import { adapterFactory } from '../../src/oidc/adapter.ts';
import { createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../helpers/databases.ts';

/**
 * The live schema, read from the database's own catalogue (not from the
 * migrations), one line per column, index and constraint, sorted per table.
 */
async function schemaDump(db: Db, kind: DatabaseKind): Promise<string> {
  const lines: string[] = [];
  if (kind === 'sqlite') {
    const tables = (await db.raw(
      `select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'knex_%' order by name`,
    )) as { name: string }[];
    for (const { name: table } of tables) {
      const columns = (await db.raw(`select name, type, "notnull", dflt_value, pk from pragma_table_info(?) order by cid`, [table])) as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      for (const c of columns)
        lines.push(
          `${table} column ${c.name} ${c.type}${c.notnull ? ' not null' : ''}${c.dflt_value !== null ? ` default ${c.dflt_value}` : ''}${c.pk ? ` pk${c.pk}` : ''}`,
        );
      const indexes = (await db.raw(
        `select l.name, l."unique", l.origin, l.partial, m.sql from pragma_index_list(?) l left join sqlite_master m on m.type = 'index' and m.name = l.name order by l.name`,
        [table],
      )) as { name: string; unique: number; origin: string; partial: number; sql: string | null }[];
      for (const i of indexes) {
        const cols = ((await db.raw(`select name from pragma_index_info(?) order by seqno`, [i.name])) as { name: string }[]).map((c) => c.name).join(', ');
        const where = i.partial && i.sql ? ` where ${i.sql.replace(/^[\s\S]* where /i, '')}` : '';
        lines.push(`${table} index ${i.name} (${cols})${i.unique ? ' unique' : ''} ${i.origin}${where}`);
      }
      const keys = (await db.raw(`select "from", "table", "to", on_update, on_delete from pragma_foreign_key_list(?) order by id, seq`, [table])) as {
        from: string;
        table: string;
        to: string;
        on_update: string;
        on_delete: string;
      }[];
      for (const k of keys) lines.push(`${table} foreign key (${k.from}) references ${k.table}(${k.to}) on update ${k.on_update} on delete ${k.on_delete}`);
    }
    return lines.join('\n');
  }
  const rows = <T>(result: unknown) => (result as { rows: T[] }).rows;
  const columns = rows<{
    table_name: string;
    column_name: string;
    data_type: string;
    character_maximum_length: number | null;
    is_nullable: string;
    column_default: string | null;
  }>(
    await db.raw(
      `select table_name, column_name, data_type, character_maximum_length, is_nullable, column_default from information_schema.columns
     where table_schema = 'public' and table_name not like 'knex_%' order by table_name, ordinal_position`,
    ),
  );
  const indexes = rows<{ tablename: string; indexname: string; indexdef: string }>(
    await db.raw(
      `select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' and tablename not like 'knex_%' order by tablename, indexname`,
    ),
  );
  const constraints = rows<{ table_name: string; conname: string; definition: string }>(
    await db.raw(
      `select c.conrelid::regclass::text as table_name, c.conname, pg_get_constraintdef(c.oid) as definition from pg_constraint c
     join pg_namespace n on n.oid = c.connamespace where n.nspname = 'public' and c.conrelid <> 0 and c.conrelid::regclass::text not like 'knex_%'
     order by 1, c.conname`,
    ),
  );
  const tables = [...new Set(columns.map((c) => c.table_name))];
  for (const table of tables) {
    for (const c of columns.filter((x) => x.table_name === table)) {
      lines.push(
        `${table} column ${c.column_name} ${c.data_type}${c.character_maximum_length !== null ? `(${c.character_maximum_length})` : ''}${c.is_nullable === 'NO' ? ' not null' : ''}${c.column_default !== null ? ` default ${c.column_default}` : ''}`,
      );
    }
    for (const i of indexes.filter((x) => x.tablename === table)) lines.push(`${table} index ${i.indexname}: ${i.indexdef.replace(/ ON public\./, ' ON ')}`);
    // "user" is quoted by regclass::text; the table names above are not.
    for (const k of constraints.filter((x) => x.table_name.replace(/"/g, '') === table)) lines.push(`${table} constraint ${k.conname}: ${k.definition}`);
  }
  return lines.join('\n');
}

describe.each(databaseKinds)('knex adapter on %s', (kind) => {
  let database: TestDatabase;
  let db: Db;
  let now = Date.UTC(2026, 10, 23);
  const clock = { now: () => now };
  let Adapter: ReturnType<typeof adapterFactory>;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createKnex(database.config);
    await migrateLatest(db);
    Adapter = adapterFactory(db, clock);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('stores, finds and replaces a payload', async () => {
    const sessions = new Adapter('Session');
    await sessions.upsert('s1', { uid: 'u1', accountId: 'acc', kind: 'Session' }, 60);
    expect(await sessions.find('s1')).toMatchObject({ uid: 'u1', accountId: 'acc' });
    expect(await sessions.findByUid('u1')).toMatchObject({ accountId: 'acc' });
    await sessions.upsert('s1', { uid: 'u1', accountId: 'acc2', kind: 'Session' }, 60);
    expect(await sessions.find('s1')).toMatchObject({ accountId: 'acc2' });
    expect(await new Adapter('AccessToken').find('s1')).toBeUndefined();
  });

  it('finds device codes by user code', async () => {
    const codes = new Adapter('DeviceCode');
    await codes.upsert('d1', { userCode: 'BCDFGHJK', grantId: 'g-d', kind: 'DeviceCode' }, 600);
    expect(await codes.findByUserCode('BCDFGHJK')).toMatchObject({ grantId: 'g-d' });
    expect(await codes.findByUserCode('XXXXXXXX')).toBeUndefined();
  });

  it('hides expired rows and cleans them up', async () => {
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('expiring', { grantId: 'g-x', kind: 'AuthorizationCode' }, 10);
    expect(await codes.find('expiring')).toBeDefined();
    now += 11_000;
    expect(await codes.find('expiring')).toBeUndefined();
    expect(await deleteExpiredModels(db, now)).toBeGreaterThanOrEqual(1);
    expect(await db('oidc_model').where({ id: 'expiring' }).first()).toBeUndefined();
  });

  it('consumes once: the second consume is refused and revokes the grant', async () => {
    const codes = new Adapter('AuthorizationCode');
    const tokens = new Adapter('AccessToken');
    const grants = new Adapter('Grant');
    await grants.upsert('g1', { accountId: 'acc', kind: 'Grant' }, 600);
    await codes.upsert('c1', { grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    await tokens.upsert('t1', { grantId: 'g1', kind: 'AccessToken' }, 600);
    await codes.consume('c1');
    expect((await codes.find('c1'))?.consumed).toBeTruthy();
    await expect(codes.consume('c1')).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await grants.find('g1')).toBeUndefined();
    expect(await tokens.find('t1')).toBeUndefined();
  });

  it('consumes exactly once when 25 callers race', async () => {
    const tokens = new Adapter('RefreshToken');
    await tokens.upsert('r-race', { grantId: 'g-race', kind: 'RefreshToken' }, 600);
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => tokens.consume('r-race')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('revokes everything issued under a grant, and nothing else', async () => {
    const tokens = new Adapter('AccessToken');
    const refresh = new Adapter('RefreshToken');
    await tokens.upsert('a1', { grantId: 'g2', kind: 'AccessToken' }, 600);
    await refresh.upsert('r1', { grantId: 'g2', kind: 'RefreshToken' }, 600);
    await tokens.upsert('a2', { grantId: 'g3', kind: 'AccessToken' }, 600);
    await tokens.revokeByGrantId('g2');
    expect(await tokens.find('a1')).toBeUndefined();
    expect(await refresh.find('r1')).toBeUndefined();
    expect(await tokens.find('a2')).toBeDefined();
    await tokens.destroy('a2');
    expect(await tokens.find('a2')).toBeUndefined();
  });

  it('has every migration applied, and rolls back and forward cleanly', async () => {
    expect(await pendingMigrations(db)).toEqual([]);
    await rollbackAll(db);
    expect((await pendingMigrations(db)).length).toBeGreaterThan(0);
    await migrateLatest(db);
    expect(await pendingMigrations(db)).toEqual([]);
  });

  it('matches the committed schema snapshot', async () => {
    const columns: { table_name: string; column_name: string }[] =
      kind === 'sqlite'
        ? ((await db.raw(
            `select m.name as table_name, p.name as column_name from sqlite_master m join pragma_table_info(m.name) p where m.type = 'table' and m.name not like 'sqlite_%' and m.name not like 'knex_%' order by 1, p.cid`,
          )) as { table_name: string; column_name: string }[])
        : (
            (await db.raw(
              `select table_name, column_name from information_schema.columns where table_schema = 'public' and table_name not like 'knex_%' order by 1, ordinal_position`,
            )) as { rows: { table_name: string; column_name: string }[] }
          ).rows;
    const dump = columns.map((c) => `${c.table_name}.${c.column_name}`).join('\n');
    await expect(`${dump}\n`).toMatchFileSnapshot('./__snapshots__/schema-columns.txt');
  });

  it('matches the committed schema snapshot of this database: types, nullability, defaults, indexes, foreign keys', async () => {
    await expect(`${await schemaDump(db, kind)}\n`).toMatchFileSnapshot(`./__snapshots__/schema-${kind}.txt`);
  });
});
