/**
 * `gatehouse user …` against a real database, in this process (test/cli/in-process.ts)
 * but for one real child process, the first create, for the process boundary: create
 * (password on stdin), list, show, disable, enable, delete, and the refusals an
 * admin meets (duplicate e-mail, bad address, unknown id): one clear line on
 * stderr, a non-zero exit, never a stack trace. `user set-password` ends the
 * account's refresh tokens, as a reset does (a server on the same database
 * refuses the old one). On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { parsed, runInProcess } from './in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer } from '../helpers/server.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, messageLines, runGatehouse, stackLine, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

interface UserJson {
  id: string;
  email: string | null;
  name: string | null;
  status: string;
  created: string;
  lastLogin: string | null;
}

const password = 'correct horse battery staple';

describe.each(databaseKinds)('gatehouse user on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  /** The same config and database, opened in this process to check what the CLI did. */
  let gh: Gatehouse;
  let userId: string;
  /**
   * The CLI in this process (a spawn costs ~2 s of CPU), stdin fed from `input`.
   * The process boundary (a real stdin pipe, exit code, stdout and stderr apart)
   * is covered by the one real child process: the first create, on SQLite.
   */
  const run = (args: string[], input?: string) => runInProcess(['--config', ws.configPath, ...args], input);
  const json = <T>(args: string[], input?: string) => run([...args, '--json'], input).then((r) => parsed<T>(r));
  const localConnector = () => {
    const found = gh.connectors.find((c) => c.type === 'local');
    if (found?.type !== 'local') throw new Error('no local connector');
    return found;
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(
      db,
      [
        'issuer: http://127.0.0.1:3000',
        `database: ${databaseYaml(db)}`,
        'connectors:',
        '  - { id: local, type: local, name: Email }',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    gh = createGatehouse(loadConfig(ws.configPath, {}), { logger: createLogger('silent') });
  });

  afterAll(async () => {
    await gh?.close();
    ws?.cleanup();
    await db?.drop();
  });

  it('creates a user with the password read from stdin and prints one JSON object with its id', async () => {
    const args = ['--config', ws.configPath, 'user', 'create', '--email', 'a@example.com', '--password-stdin', '--json'];
    // The real program, once per file: the password through a real pipe, the answer on stdout, exit 0.
    const result = kind === 'sqlite' ? await runGatehouse(args, { cwd: ws.cwd, input: `${password}\n` }) : await runInProcess(args, `${password}\n`);
    expect(messageLines(result.stderr)).toEqual([]);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout) as UserJson;
    expect(Array.isArray(created)).toBe(false);
    expect(created).toMatchObject({ email: 'a@example.com', status: 'active', lastLogin: null });
    expect(created.id).toEqual(expect.any(String));
    expect(created.id.length).toBeGreaterThan(0);
    userId = created.id;

    // The password from stdin (without its newline) is the one that signs in.
    const local = localConnector();
    await expect(local.authenticate('a@example.com', password, '192.0.2.1')).resolves.toMatchObject({ connectorId: 'local', email: 'a@example.com' });
    await expect(local.authenticate('a@example.com', `${password}\n`, '192.0.2.1')).rejects.toMatchObject({ code: 'auth.invalid_credentials' });
  });

  it('lists the user in --json', async () => {
    const users = await json<UserJson[]>(['user', 'list']);
    expect(users).toEqual([expect.objectContaining({ id: userId, email: 'a@example.com', status: 'active' })]);
  });

  it('shows the user with its local identity', async () => {
    const shown = await json<UserJson & { identities: { connector: string; subject: string; email: string }[] }>(['user', 'show', userId]);
    expect(shown).toMatchObject({ id: userId, email: 'a@example.com', status: 'active' });
    expect(shown.identities).toEqual([expect.objectContaining({ connector: 'local', email: 'a@example.com' })]);
  });

  it('disables and enables the user, and the database says so', async () => {
    const disabled = await json<UserJson>(['user', 'disable', userId]);
    expect(disabled).toMatchObject({ id: userId, status: 'disabled' });
    expect((await gh.users.get(userId)).status).toBe('disabled');

    const enabled = await json<UserJson>(['user', 'enable', userId]);
    expect(enabled).toMatchObject({ id: userId, status: 'active' });
    expect((await gh.users.get(userId)).status).toBe('active');
  });

  it('refuses a second user with the same e-mail with one "already exists" line', async () => {
    const result = await run(['user', 'create', '--email', 'a@example.com', '--password-stdin'], `${password}\n`);
    expect(result.code).toBe(73);
    expect(messageLines(result.stderr)).toEqual(['gatehouse: a local account for a@example.com already exists']);
    expect(result.stderr).not.toMatch(stackLine);
    expect(result.stdout).toBe('');
    expect(await gh.users.list()).toHaveLength(1);
  });

  it('refuses an address that is not an e-mail', async () => {
    const result = await run(['user', 'create', '--email', 'not-an-email']);
    expect(result.code).toBe(64);
    expect(messageLines(result.stderr)).toEqual(['gatehouse: "not-an-email" is not an e-mail address']);
    expect(result.stderr).not.toMatch(stackLine);
    expect(await gh.users.list()).toHaveLength(1);
  });

  it('refuses a password that is too short, writing nothing', async () => {
    const result = await run(['user', 'create', '--email', 'short@example.com', '--password-stdin'], 'abc\n');
    expect(result.code).toBe(64);
    expect(messageLines(result.stderr)).toEqual(['gatehouse: The password must be at least 8 characters long.']);
    expect(await gh.users.list()).toHaveLength(1);
  });

  it('refuses to make an account nobody can sign in to unless asked with --no-password, saying how to give a password', async () => {
    const result = await runInProcess(['--config', ws.configPath, 'user', 'create', '--email', 'b@example.com', '--name', 'Bea']);
    expect(result.code).toBe(64);
    expect(result.stdout).toBe('');
    expect(messageLines(result.stderr)).toEqual([
      expect.stringMatching(
        /^gatehouse: a password is needed to sign in: give it on standard input with --password-stdin .*--no-password .*`gatehouse user set-password ID --password-stdin`$/,
      ),
    ]);
    expect((await gh.users.list()).find((u) => u.email === 'b@example.com')).toBeUndefined();
  });

  it('creates a user with --no-password, says it cannot sign in and how to set one; set-password lets it sign in', async () => {
    const result = await runInProcess(['--config', ws.configPath, 'user', 'create', '--email', 'b@example.com', '--name', 'Bea', '--no-password']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^email\s+b@example\.com$/m);
    expect(result.stdout).toMatch(/^name\s+Bea$/m);
    expect(result.stdout).toMatch(/^hasPassword\s+false$/m);
    const created = (await gh.users.list()).find((u) => u.email === 'b@example.com');
    expect(created).toMatchObject({ name: 'Bea', status: 'active' });
    expect(result.stdout).toContain(
      `No password: b@example.com cannot sign in until one is set with: echo "$PW" | gatehouse user set-password ${created!.id} --password-stdin`,
    );
    await expect(localConnector().authenticate('b@example.com', password, '192.0.2.3')).rejects.toMatchObject({ code: 'auth.invalid_credentials' });

    const set = await json<UserJson & { hasPassword: boolean }>(['user', 'set-password', created!.id, '--password-stdin'], `${password}\n`);
    expect(set).toMatchObject({ id: created!.id, email: 'b@example.com', hasPassword: true });
    await expect(localConnector().authenticate('b@example.com', password, '192.0.2.3')).resolves.toMatchObject({
      connectorId: 'local',
      email: 'b@example.com',
    });
  });

  it('refuses set-password for an unknown user and without --password-stdin', async () => {
    const unknown = await runInProcess(['--config', ws.configPath, 'user', 'set-password', 'no-such-user', '--password-stdin']);
    expect(unknown.code).toBe(66);
    expect(messageLines(unknown.stderr)).toEqual(['gatehouse: no user with id no-such-user']);
    const noFlag = await runInProcess(['--config', ws.configPath, 'user', 'set-password', userId]);
    expect(noFlag.code).toBe(64);
    expect(messageLines(noFlag.stderr)[0]).toMatch(/^gatehouse: required option '--password-stdin' not specified$/);
  });

  it("set-password ends the account's refresh tokens: the old one is refused, the new password signs in", async () => {
    const redirectUri = 'http://127.0.0.1:9/cb';
    const app = {
      client_id: 'app',
      client_secret: 'app-secret-0123456789',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
    };
    const server = await startTestServer(db, { clients: [app] });
    try {
      const made = await json<UserJson>(['user', 'create', '--email', 'r@example.com', '--password-stdin'], `${password}\n`);
      const signIn = async (secret: string) => {
        const got = await obtainCode(server.url, {
          clientId: 'app',
          redirectUri,
          email: 'r@example.com',
          password: secret,
          scope: 'openid offline_access',
          extra: { prompt: 'consent' },
        });
        return tokenRequest(server.url, app, { grant_type: 'authorization_code', code: got.code, redirect_uri: redirectUri, code_verifier: got.verifier });
      };
      const tokens = await signIn(password);
      let refreshToken = String(tokens.body.refresh_token);
      const refresh = () => tokenRequest(server.url, app, { grant_type: 'refresh_token', refresh_token: refreshToken });
      const first = await refresh();
      expect(first.status).toBe(200);
      // The token in use now (a rotated one, when the provider rotates): only the password change may end it.
      refreshToken = String(first.body.refresh_token ?? refreshToken);

      const set = await run(['user', 'set-password', made.id, '--password-stdin'], 'another long password\n');
      expect(set.code, set.stderr).toBe(0);
      const refused = await refresh();
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_grant');
      expect((await signIn('another long password')).body.refresh_token).toEqual(expect.any(String));
      await gh.users.delete(made.id, 'test');
    } finally {
      await server.stop();
    }
  });

  it('deletes the user; showing it afterwards fails with one clear line and no stack trace', async () => {
    const deleted = await json<{ id: string; deleted: boolean }>(['user', 'delete', userId]);
    expect(deleted).toEqual({ id: userId, deleted: true });

    const result = await run(['user', 'show', userId]);
    expect(result.code).toBe(66);
    expect(messageLines(result.stderr)).toEqual([`gatehouse: no user with id ${userId}`]);
    expect(result.stderr).not.toMatch(stackLine);
    expect(result.stdout).toBe('');
    expect(await gh.users.find(userId)).toBeUndefined();
    // The local account went with it: the e-mail can be used again, and the old password no longer works.
    const local = localConnector();
    await expect(local.authenticate('a@example.com', password, '192.0.2.2')).rejects.toMatchObject({ code: 'auth.invalid_credentials' });
  });
});
