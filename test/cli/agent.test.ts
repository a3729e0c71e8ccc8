/**
 * The device side, `gatehouse agent register|token` (SPEC 6.1), run in a folder
 * without config.yaml, the way a device runs it: it
 * registers itself once with a counted registration token, keeps its
 * credentials in a 0600 state file, re-uses that file on every later start and
 * prints access tokens from it. Failures are one line on stderr and a non-zero
 * exit: an issuer that cannot be reached, a refusing issuer (used-up, expired
 * or unknown registration token, revoked device), a damaged state file.
 *
 * One case runs the real program as a child process (exit code, stdout and
 * stderr apart, no stack trace); the others run the same `runCli` in this
 * process (test/cli/in-process.ts), because every spawn costs 1-2 s of CPU.
 * The state file's reading and writing are also checked directly. The server
 * runs in this process on SQLite (the registration count's storage and race
 * tests are in the registration suites); admin commands run against the same
 * database through config.yaml.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { prepareStateFile, readState, type RegistrationState } from '../../src/agent/state.ts';
import { isGatehouseError } from '../../src/errors.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { tempFiles } from '../helpers/agent-cli.ts';
import { expectRefusal, expectSuccess, literal, parsed } from '../helpers/cli-answers.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, freePort, messageLines, runGatehouse, writeWorkspace } from './gatehouse.ts';
import { runInProcess } from './in-process.ts';

vi.setConfig(cliTimeouts);

/** A state file as `agent register` writes it, for an issuer nobody needs to reach. */
function sampleState(overrides: Partial<Record<keyof RegistrationState, unknown>> = {}): Record<string, unknown> {
  return {
    version: 1,
    kind: 'registration',
    issuer: 'https://id.example.com',
    client_id: 'device-client-1',
    client_secret: 'device-secret-0123456789',
    registration_access_token: 'rat-0123456789',
    registration_client_uri: 'https://id.example.com/reg/device-client-1',
    token_endpoint: 'https://id.example.com/token',
    created_at: '2026-01-02T03:04:05.000Z',
    ...overrides,
  };
}

function writeState(file: string, value: unknown, mode = 0o600): void {
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2), { mode });
  chmodSync(file, mode);
}

describe('the agent state file', () => {
  let dir: string;
  const warnings: string[] = [];
  const warn = (line: string) => warnings.push(line);

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-agent-state-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is written with mode 0600 through a temp file that does not outlive the write', () => {
    const file = path.join(dir, 'written.json');
    const pending = prepareStateFile(file);
    // The temp file exists from before the registration request, already 0600.
    const [temp] = tempFiles(dir);
    expect(temp).toBeDefined();
    expect(statSync(path.join(dir, temp!)).mode & 0o777).toBe(0o600);
    expect(existsSync(file)).toBe(false);
    pending.commit(sampleState() as RegistrationState);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(tempFiles(dir)).toEqual([]);
    expect(readState(file, warn)).toEqual(sampleState());
    expect(warnings).toEqual([]);
  });

  it('leaves nothing behind when abandoned (nothing was registered)', () => {
    const file = path.join(dir, 'abandoned.json');
    prepareStateFile(file).abandon();
    expect(existsSync(file)).toBe(false);
    expect(tempFiles(dir)).toEqual([]);
  });

  it('refuses a folder it cannot write to before anything is registered', () => {
    expect(() => prepareStateFile(path.join(dir, 'no-such-folder', 'state.json'))).toThrow(/^cannot write state file .*no-such-folder.*ENOENT/);
  });

  it('reads a missing file as no state', () => {
    expect(readState(path.join(dir, 'missing.json'), warn)).toBeUndefined();
  });

  it.each([
    ['a field of the wrong type', sampleState({ client_secret: 42 }), 'client_secret: expected string, received number'],
    ['a missing field', (({ client_id: _, ...rest }) => rest)(sampleState()), 'client_id: missing'],
    ['an extra field', { ...sampleState(), note: 'hello' }, 'unexpected field "note"'],
    ['an unknown kind', sampleState({ kind: 'something-else' }), 'kind: '],
    ['a newer version', sampleState({ version: 2 }), 'version: expected 1'],
    ['an endpoint that is not a URL', sampleState({ token_endpoint: 'token' }), 'token_endpoint: invalid URL'],
    ['JSON that is not an object', [sampleState()], 'expected object, received array'],
  ])('names what is damaged: %s', (_what, value, problem) => {
    const file = path.join(dir, 'damaged.json');
    writeState(file, value);
    let thrown: unknown;
    try {
      readState(file, warn);
    } catch (err) {
      thrown = err;
    }
    expect(isGatehouseError(thrown, 'agent.state_invalid')).toBe(true);
    expect((thrown as Error).message.startsWith(`state file ${file} is damaged: ${problem}`)).toBe(true);
  });

  it('warns when others on the machine can read the file, and still reads it', () => {
    const file = path.join(dir, 'open.json');
    writeState(file, sampleState(), 0o644);
    warnings.length = 0;
    expect(readState(file, warn)).toEqual(sampleState());
    expect(warnings).toEqual([`warning: state file ${file} has mode 0644: others on this machine can get at its client secret; run chmod 600 ${file}`]);
  });
});

describe('gatehouse agent without a reachable issuer', () => {
  /** The device: an empty folder, no config.yaml anywhere. */
  let cwd: string;
  const agent = (args: string[]) => runInProcess(['agent', ...args], { cwd });

  beforeAll(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'gatehouse-agent-'));
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('says it cannot reach an issuer nobody listens on, and writes no state file', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    // The real program, once for the suite: the exit code a shell sees, stdout and stderr apart, no stack trace.
    const result = await runGatehouse(['agent', 'register', '--issuer', issuer, '--registration-token', 'ghr_anything', '--state', 'device.json'], { cwd });
    expectRefusal(result, 69, new RegExp(`^gatehouse: cannot reach the issuer at ${literal(issuer)}: connect ECONNREFUSED`));
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('gives up on an issuer that accepts the connection but never answers, after --timeout seconds', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const result = await agent(['register', '--issuer', issuer, '--registration-token', 'ghr_anything', '--state', 'device.json', '--timeout', '1']);
      expectRefusal(result, 69, new RegExp(`^gatehouse: cannot reach the issuer at ${literal(issuer)}: no answer within 1 s$`));
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a --timeout that is not a number of seconds', async () => {
    const result = await agent(['token', '--state', 'device.json', '--timeout', 'soon']);
    expect(result.code).toBe(64);
    expect(messageLines(result.stderr)[0]).toMatch(
      /^gatehouse: option '--timeout <seconds>' argument 'soon' is invalid\. a whole number of seconds, at least 1$/,
    );
  });

  it('refuses plain http to anything but the device itself', async () => {
    const result = await agent(['register', '--issuer', 'http://id.example.com', '--registration-token', 'ghr_anything', '--state', 'device.json']);
    expectRefusal(
      result,
      64,
      /^gatehouse: the issuer http:\/\/id\.example\.com must use https \(plain http is allowed only for 127\.0\.0\.1, localhost and ::1\)$/,
    );
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('re-uses a state file for the same issuer without asking it (the issuer is not even reachable)', async () => {
    writeState(path.join(cwd, 'kept.json'), sampleState());
    const result = await agent(['register', '--issuer', 'https://id.example.com/', '--registration-token', 'ghr_used_up_long_ago', '--state', 'kept.json']);
    expectSuccess(result);
    expect(result.stdout).toBe('re-using the state in kept.json: this device is already registered as client device-client-1\n');
    // --json: the state without its secrets.
    const json = await agent(['register', '--issuer', 'https://id.example.com', '--registration-token', 'ghr_x', '--state', 'kept.json', '--json']);
    expectSuccess(json);
    const { client_secret: _s, registration_access_token: _r, ...visible } = sampleState();
    expect(JSON.parse(json.stdout)).toEqual({ ...visible, reused: true });
    expect(json.stdout).not.toContain('device-secret');
  });

  it('warns about a state file others can read, and still uses it', async () => {
    writeState(path.join(cwd, 'open.json'), sampleState(), 0o644);
    const result = await agent(['register', '--issuer', 'https://id.example.com', '--registration-token', 'ghr_x', '--state', 'open.json']);
    expect(result.code).toBe(0);
    expect(messageLines(result.stderr)).toEqual([
      'gatehouse: warning: state file open.json has mode 0644: others on this machine can get at its client secret; run chmod 600 open.json',
    ]);
  });

  it('refuses a state file written for another issuer', async () => {
    writeState(path.join(cwd, 'other.json'), sampleState());
    const result = await agent(['register', '--issuer', 'https://login.example.org', '--registration-token', 'ghr_x', '--state', 'other.json']);
    expectRefusal(result, 65, /^gatehouse: state file other\.json was written for issuer https:\/\/id\.example\.com, not https:\/\/login\.example\.org$/);
  });

  it('names the damage in a tampered state file, and registers nothing over it', async () => {
    const file = path.join(cwd, 'tampered.json');
    writeState(file, sampleState({ client_secret: 12345, created_at: true }));
    const token = await agent(['token', '--state', 'tampered.json']);
    expectRefusal(
      token,
      65,
      /^gatehouse: state file tampered\.json is damaged: client_secret: expected string, received number; created_at: expected string, received boolean$/,
    );
    const register = await agent(['register', '--issuer', 'https://id.example.com', '--registration-token', 'ghr_x', '--state', 'tampered.json']);
    expectRefusal(register, 65, /^gatehouse: state file tampered\.json is damaged: client_secret: /);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(sampleState({ client_secret: 12345, created_at: true }));
  });

  it('says a state file that is not JSON is damaged', async () => {
    writeState(path.join(cwd, 'garbage.json'), 'client_id=abc\nclient_secret=do-not-echo-me\n');
    const result = await agent(['token', '--state', 'garbage.json']);
    expectRefusal(result, 65, /^gatehouse: state file garbage\.json is damaged: not JSON$/);
    expect(result.stderr).not.toContain('do-not-echo-me');
  });

  it('says a state file it cannot read cannot be read', async () => {
    mkdirSync(path.join(cwd, 'a-folder.json'));
    const result = await agent(['token', '--state', 'a-folder.json']);
    expectRefusal(result, 65, /^gatehouse: cannot read state file a-folder\.json: EISDIR/);
  });

  it('asks to register first when there is no state file', async () => {
    const result = await agent(['token', '--state', 'never-written.json']);
    expectRefusal(result, 66, /^gatehouse: state file never-written\.json does not exist; run `gatehouse agent register`, `enroll` or `login` first$/);
  });

  it('says it cannot reach the issuer when asking for a token', async () => {
    const port = await freePort();
    writeState(path.join(cwd, 'unreachable.json'), sampleState({ issuer: `http://127.0.0.1:${port}`, token_endpoint: `http://127.0.0.1:${port}/token` }));
    const result = await agent(['token', '--state', 'unreachable.json']);
    expectRefusal(result, 69, new RegExp(`^gatehouse: cannot reach the issuer at http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });
});

interface RegistrationTokenJson {
  id: string;
  token: string;
  count: number;
  uses: number;
}

interface DeviceJson {
  clientId: string;
  registrationTokenId: string | null;
}

describe('gatehouse agent against a Gatehouse with registration', () => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  /** The devices' folder: state files only, no config. */
  let devices: string;
  /** Moves the server's clock (registration token expiry) without waiting. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  const admin = (args: string[]) => runInProcess(['--config', ws.configPath, ...args], { cwd: ws.cwd });
  const adminJson = async <T>(args: string[]): Promise<T> => parsed<T>(await admin([...args, '--json']));
  const agent = (args: string[]) => runInProcess(['agent', ...args], { cwd: devices });
  const register = (token: string, state: string, extra: string[] = []) =>
    agent(['register', '--issuer', server.url, '--registration-token', token, '--state', state, ...extra]);
  const stateOf = (file: string) => JSON.parse(readFileSync(path.join(devices, file), 'utf8')) as RegistrationState;
  /** Introspection as a resource server would do it, with openid-client and the given client's credentials. */
  const introspect = async (token: string, clientId: string, secret: string) => {
    const config = await client.discovery(new URL(server.url), clientId, secret, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
    return client.tokenIntrospection(config, token);
  };

  // Carried from test to test (they run in order).
  let threeUses: RegistrationTokenJson;
  let firstToken = '';

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    const registration = { enabled: true, initialAccessToken: 'required' };
    server = await startTestServer(db, { registration, clients: [testClients.service] }, { clock });
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        `registration: ${JSON.stringify(registration)}`,
        `clients: ${JSON.stringify([testClients.service])}`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    devices = mkdtempSync(path.join(tmpdir(), 'gatehouse-devices-'));
  });

  afterAll(async () => {
    await server?.stop();
    ws?.cleanup();
    if (devices) rmSync(devices, { recursive: true, force: true });
    await db?.drop();
  });

  it('registers three devices with a token for three, each as its own client; the fourth is refused and gets no state file', async () => {
    threeUses = await adminJson<RegistrationTokenJson>(['registration-token', 'create', '--count', '3', '--expires', '7d']);
    // In-process runs take turns, so these three register one after the other (races on the count: test/registration).
    const results = await Promise.all(
      ['device-1.json', 'device-2.json', 'device-3.json'].map((file, i) => register(threeUses.token, file, ['--name', `sensor ${i + 1}`])),
    );
    for (const result of results) {
      expectSuccess(result);
      expect(result.stdout).toMatch(/^registered this device as client \S+; credentials saved in device-\d\.json\n$/);
    }
    const states = ['device-1.json', 'device-2.json', 'device-3.json'].map(stateOf);
    const ids = states.map((s) => s.client_id);
    expect(new Set(ids).size).toBe(3);
    for (const [i, state] of states.entries()) {
      expect(results[i]!.stdout).toContain(state.client_id);
      expect(state).toEqual({
        version: 1,
        kind: 'registration',
        issuer: server.url,
        client_id: expect.any(String),
        client_secret: expect.any(String),
        registration_access_token: expect.any(String),
        registration_client_uri: `${server.url}/reg/${state.client_id}`,
        token_endpoint: `${server.url}/token`,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    }

    const fourth = await register(threeUses.token, 'device-4.json');
    expectRefusal(fourth, 77, /^gatehouse: the issuer refused the registration: this registration token has been used up.* \(invalid_token\)$/);
    expect(existsSync(path.join(devices, 'device-4.json'))).toBe(false);
    expect(tempFiles(devices)).toEqual([]);

    const listed = await adminJson<DeviceJson[]>(['device', 'list']);
    expect(listed.map((d) => d.clientId).sort()).toEqual([...ids].sort());
    expect(listed.every((d) => d.registrationTokenId === threeUses.id)).toBe(true);
  });

  it('writes the state file with mode 0600', () => {
    for (const file of ['device-1.json', 'device-2.json', 'device-3.json']) {
      expect(statSync(path.join(devices, file)).mode & 0o777).toBe(0o600);
    }
  });

  it('re-uses the state file on a second run: no new client, no use spent', async () => {
    const before = stateOf('device-1.json');
    const again = await register(threeUses.token, 'device-1.json', ['--json']);
    expectSuccess(again);
    const shown = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ client_id: before.client_id, issuer: server.url, reused: true });
    expect(shown).not.toHaveProperty('client_secret');
    expect(shown).not.toHaveProperty('registration_access_token');
    expect(stateOf('device-1.json')).toEqual(before);

    const tokens = await adminJson<RegistrationTokenJson[]>(['registration-token', 'list']);
    expect(tokens.find((t) => t.id === threeUses.id)?.uses).toBe(3);
    expect(await adminJson<DeviceJson[]>(['device', 'list'])).toHaveLength(3);
  });

  it('prints an access token that introspection reports active for that device', async () => {
    const state = stateOf('device-1.json');
    const result = await agent(['token', '--state', 'device-1.json']);
    expectSuccess(result);
    expect(result.stdout).toMatch(/^\S+\n$/);
    firstToken = result.stdout.trim();
    const seen = await introspect(firstToken, state.client_id, state.client_secret);
    expect(seen).toMatchObject({ active: true, client_id: state.client_id });
  });

  it('prints the whole token response with --json', async () => {
    const state = stateOf('device-2.json');
    const result = await agent(['token', '--state', 'device-2.json', '--json']);
    expectSuccess(result);
    const response = JSON.parse(result.stdout) as { access_token: string; token_type: string; expires_in: number };
    expect(response).toMatchObject({ access_token: expect.any(String), token_type: expect.stringMatching(/^bearer$/i), expires_in: expect.any(Number) });
    expect((await introspect(response.access_token, state.client_id, state.client_secret)).active).toBe(true);
  });

  it('asks for the scopes given with --scope', async () => {
    const state = stateOf('device-2.json');
    const result = await agent(['token', '--state', 'device-2.json', '--scope', 'email', '--json']);
    expectSuccess(result);
    const response = JSON.parse(result.stdout) as { access_token: string; scope?: string };
    expect(response.scope).toBe('email');
    expect(await introspect(response.access_token, state.client_id, state.client_secret)).toMatchObject({ active: true, scope: 'email' });
  });

  it('after `device revoke`, `agent token` says the issuer no longer accepts the device; other devices are untouched', async () => {
    const state = stateOf('device-1.json');
    expectSuccess(await admin(['device', 'revoke', state.client_id]));
    const result = await agent(['token', '--state', 'device-1.json']);
    expectRefusal(
      result,
      77,
      /^gatehouse: the issuer no longer accepts this device's credentials \(invalid_client\); it may have been revoked — register again/,
    );
    expectSuccess(await agent(['token', '--state', 'device-3.json']));
  });

  it('after `device revoke`, the access token the device had is inactive at introspection', async () => {
    // Asked by a resource server (the static confidential client): the device itself can no longer authenticate.
    const seen = await introspect(firstToken, testClients.service.client_id, testClients.service.client_secret);
    expect(seen.active).toBe(false);
  });

  it('says an expired registration token has expired, and writes no state file', async () => {
    const shortLived = await adminJson<RegistrationTokenJson>(['registration-token', 'create', '--count', '5', '--expires', '2s']);
    skew += 2_500;
    const result = await register(shortLived.token, 'late.json');
    expectRefusal(result, 77, /^gatehouse: the issuer refused the registration: .*expired.* \(invalid_token\)$/);
    expect(existsSync(path.join(devices, 'late.json'))).toBe(false);
  });

  it('says an unknown registration token is refused', async () => {
    const result = await register('ghr_not-a-real-token-0123456789', 'unknown.json');
    expectRefusal(result, 77, /^gatehouse: the issuer refused the registration: .*\(invalid_token\)$/);
    expect(existsSync(path.join(devices, 'unknown.json'))).toBe(false);
  });

  it('names the issuer the discovery document gives when the URL is spelled differently', async () => {
    const other = server.url.replace('127.0.0.1', 'localhost');
    const result = await agent(['register', '--issuer', other, '--registration-token', threeUses.token, '--state', 'spelled.json']);
    expectRefusal(
      result,
      77,
      new RegExp(`^gatehouse: discovery failed: the discovery document at ${literal(other)} names the issuer ${literal(server.url)}; use exactly that URL$`),
    );
  });

  it('says so when the issuer does not offer dynamic registration', async () => {
    const plainDb = await createTestDatabase('sqlite');
    const plain = await startTestServer(plainDb, {});
    try {
      const result = await agent(['register', '--issuer', plain.url, '--registration-token', threeUses.token, '--state', 'plain.json']);
      expectRefusal(
        result,
        77,
        /^gatehouse: the issuer at \S+ does not offer dynamic client registration \(no registration_endpoint in its discovery document\)$/,
      );
      expect(existsSync(path.join(devices, 'plain.json'))).toBe(false);
    } finally {
      await plain.stop();
      await plainDb.drop();
    }
  });
});
