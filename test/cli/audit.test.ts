/**
 * `gatehouse audit list` (in this process) on SQLite and PostgreSQL: the
 * entries the CLI itself caused, newest first, filtered by actor, action
 * family and --since; a bad --since is one line and exit 64.
 */
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, writeWorkspace } from './gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from './in-process.ts';

vi.setConfig(cliTimeouts);

describe.each(databaseKinds)('gatehouse audit list on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args], { cwd: ws.cwd });
  const cliJson = <T>(args: string[]) => cli([...args, '--json']).then((r) => parsed<T>(r));

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(db, `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db)}\nregistration: { enabled: true }\nlog: { level: warn }\n`);
  });
  afterAll(async () => {
    ws?.cleanup();
    await db?.drop();
  });

  it('lists what the CLI did, newest first, filtered by actor, action family and --since', async () => {
    await cliJson(['registration-token', 'create', '--count', '1', '--expires', '1d']);
    const made = await cliJson<{ id: string }>(['registration-token', 'create', '--count', '2', '--expires', '1d']);
    await cliJson(['registration-token', 'revoke', made.id]);
    const entries = await cliJson<{ actor: string; action: string; subject: string }[]>([
      'audit',
      'list',
      '--actor',
      `cli:${userInfo().username}`,
      '--action',
      'registration_token.*',
      '--since',
      '1h',
    ]);
    expect(entries.map((e) => e.action)).toEqual(['registration_token.revoked', 'registration_token.created', 'registration_token.created']);
    expect(entries[0]!.subject).toBe(made.id);
    expect(await cliJson<unknown[]>(['audit', 'list', '--action', 'registration_token.*', '--limit', '1'])).toHaveLength(1);
    expect((await cli(['audit', 'list'])).stdout).toMatch(/^ID\s+TIME\s+ACTOR\s+ACTION/);
    expectRefusal(await cli(['audit', 'list', '--since', 'lately']), 64, /"lately" is not a duration/);
  });
});
