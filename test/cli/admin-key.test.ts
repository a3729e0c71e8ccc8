/**
 * `gatehouse admin-key create` (SPEC 9): prints a key once and the entry for
 * config.yaml's `adminApi.keys`; pasted into a server's config, the key
 * authenticates at /admin/api and a wrong one does not. Needs no config and no
 * database. In this process, but for one real child process (the --json create).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { cliTimeouts, runGatehouse } from './gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from './in-process.ts';

vi.setConfig(cliTimeouts);

interface AdminKeyJson {
  id: string;
  key: string;
  hash: string;
  config: string;
}

/** What an operator pastes: the printed line under adminApi.keys. */
const pasted = (line: string) => parse(`adminApi:\n  keys:\n    ${line}\n`) as { adminApi: { keys: { id: string; hash: string }[] } };

describe('gatehouse admin-key create', () => {
  let db: TestDatabase;
  let server: TestServer;
  let cwd: string;
  let made: AdminKeyJson;
  let other: AdminKeyJson;
  const nowhere = () => path.join(cwd, 'no-such-dir', 'config.yaml');

  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'gatehouse-admin-key-'));
    db = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('prints the key, its hash and the config entry as JSON, with no config file and no database (a real process)', async () => {
    const result = await runGatehouse(['--config', nowhere(), 'admin-key', 'create', '--id', 'ci-bot_1', '--json'], { cwd });
    made = parsed<AdminKeyJson>(result);
    expect(made.id).toBe('ci-bot_1');
    expect(made.key).toMatch(/^ghk_ci-bot_1_[A-Za-z0-9_-]{43}$/);
    expect(made.hash).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    expect(made.config).toBe(`- { id: ci-bot_1, hash: ${made.hash} }`);
    expect(made.config).not.toContain(made.key.slice(-43));
    expect(pasted(made.config).adminApi.keys).toEqual([{ id: 'ci-bot_1', hash: made.hash }]);
  });

  it('prints the key and the entry for people, and picks an id when none is given', async () => {
    const human = await runInProcess(['admin-key', 'create']);
    expect(human.code).toBe(0);
    const key = /^\s+(ghk_\S+)$/m.exec(human.stdout)?.[1];
    const line = /^\s+(- \{ id: .+ \})$/m.exec(human.stdout)?.[1];
    expect(key).toMatch(/^ghk_key-[0-9a-f]{8}_/);
    expect(line).toMatch(/^- \{ id: key-[0-9a-f]{8}, hash: sha256:/);
    expect(human.stdout).toMatch(/shown only now/);
    other = parsed<AdminKeyJson>(await runInProcess(['--config', nowhere(), 'admin-key', 'create', '--json']));
    expect(other.id).toMatch(/^key-[0-9a-f]{8}$/);
    expect(other.id).not.toBe(made.id);
  });

  it('refuses an id the config would not accept (exit 64)', async () => {
    for (const id of ['has space', 'a.b', 'x'.repeat(65), '']) {
      expectRefusal(await runInProcess(['admin-key', 'create', '--id', id, '--json']), 64, /^gatehouse: --id must be 1 to 64 letters, digits, _ or -/);
    }
  });

  it('the printed key authenticates against a server whose config holds the printed entry; a wrong key does not', async () => {
    server = await startTestServer(db, pasted(made.config));
    const call = (bearer: string) => fetch(`${server.url}/admin/api/users`, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } });
    const ok = await call(made.key);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ items: [], nextCursor: null });
    // A key made the same way whose entry is not in the config, the right id with another secret, and a changed character.
    expect((await call(other.key)).status).toBe(401);
    expect((await call(`ghk_ci-bot_1_${other.key.slice(-43)}`)).status).toBe(401);
    const last = made.key.at(-1) === 'A' ? 'B' : 'A';
    expect((await call(`${made.key.slice(0, -1)}${last}`)).status).toBe(401);
  });
});
