/**
 * `gatehouse migrate` as an operator runs it: on an empty database it applies
 * every migration in migrations/, a second run has nothing to do, and `--json`
 * says what was applied. On SQLite and PostgreSQL.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, messageLines, migrationsDir, runGatehouse, stackLine, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

const allMigrations = readdirSync(migrationsDir)
  .filter((f) => /^\d{14}_[a-z0-9_]+\.ts$/.test(f))
  .sort();

describe.each(databaseKinds)('gatehouse migrate on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  const run = (...args: string[]) => runGatehouse(['--config', ws.configPath, ...args], { cwd: ws.cwd });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // SQLite: a relative file, which must land beside config.yaml and not in the working directory.
    ws = writeWorkspace(db, `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db, './data/gatehouse.sqlite')}\nlog: { level: warn }\n`);
  });

  afterAll(async () => {
    ws?.cleanup();
    await db?.drop();
  });

  it('applies every migration to an empty database and lists them in --json', async () => {
    expect(allMigrations.length).toBeGreaterThan(0);
    const result = await run('migrate', '--json');
    expect(messageLines(result.stderr)).toEqual([]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ applied: allMigrations });
    if (kind === 'sqlite') {
      expect(existsSync(path.join(ws.configDir, 'data', 'gatehouse.sqlite'))).toBe(true);
      expect(readdirSync(ws.cwd)).toEqual([]);
    }
  });

  it('says the database is up to date on a second run', async () => {
    const result = await run('migrate');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('The database is up to date.');
    expect(result.stdout).not.toMatch(/\d{14}_/);
    expect(result.stderr).not.toMatch(stackLine);
  });

  it('answers { "applied": [] } in --json when nothing is pending', async () => {
    const result = await run('migrate', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ applied: [] });
  });
});
