/**
 * `gatehouse keys list|rotate` on a real database: a fresh install gets one
 * RS256 and one ES256 signing key; a rotation adds a new pair and keeps the old
 * one published (retired) so tokens it signed still verify. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, runGatehouse, runJson, stackLine, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

interface KeyJson {
  kid: string;
  alg: string;
  state: string;
  createdAt: string;
  retiredAt: string | null;
}

describe.each(databaseKinds)('gatehouse keys on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let first: KeyJson[] = [];
  const json = <T>(...args: string[]) => runJson<T>(['--config', ws.configPath, ...args], { cwd: ws.cwd });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(db, `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db)}\nlog: { level: warn }\n`);
  });

  afterAll(async () => {
    ws?.cleanup();
    await db?.drop();
  });

  it('lists one active RS256 and one active ES256 key on a fresh database', async () => {
    first = await json<KeyJson[]>('keys', 'list');
    expect(first.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of first) {
      expect(key).toMatchObject({ state: 'active', retiredAt: null });
      expect(key.kid).toEqual(expect.any(String));
    }
    expect(new Set(first.map((k) => k.kid)).size).toBe(2);
  });

  it('rotates: four keys published, the old pair "retired (published)", a new active pair', async () => {
    const rotate = await runGatehouse(['--config', ws.configPath, 'keys', 'rotate'], { cwd: ws.cwd });
    expect(rotate.code).toBe(0);
    expect(rotate.stderr).not.toMatch(stackLine);
    expect(rotate.stdout).toMatch(/RS256/);
    expect(rotate.stdout).toMatch(/ES256/);

    const after = await json<KeyJson[]>('keys', 'list');
    expect(after).toHaveLength(4);
    const oldKids = new Set(first.map((k) => k.kid));
    const old = after.filter((k) => oldKids.has(k.kid));
    const fresh = after.filter((k) => !oldKids.has(k.kid));
    expect(old).toHaveLength(2);
    for (const key of old) {
      expect(key.state).toBe('retired (published)');
      expect(key.retiredAt).toEqual(expect.any(String));
    }
    expect(fresh.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of fresh) expect(key).toMatchObject({ state: 'active', retiredAt: null });
  });
});
