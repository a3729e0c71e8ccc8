/**
 * `gatehouse agent login` (SPEC 6.3), run as a child process the way a device
 * a person signs in runs it: it asks for a user code (RFC 8628), shows it (as
 * JSON lines with --json, else the URL, the code and a QR code), polls at the
 * issuer's interval while the person, over HTTP with a cookie jar, types the
 * code, signs in and approves; then it keeps the tokens in a 0600 state file.
 * A second run refreshes instead of asking the person again (the refresh
 * token rotates); `agent token` hands out the kept access token and refreshes
 * it when due, one refresh at a time. Refusals are one plain line.
 *
 * The server runs in this process on SQLite; an expired code comes from a
 * small stand-in issuer (a real one takes ten minutes to expire a code).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { login } from '../../src/agent/login.ts';
import type { LoginState } from '../../src/agent/state.ts';
import { requestToken } from '../../src/agent/token.ts';
import type { UserRow } from '../../src/db/repos/users.ts';
import { GatehouseError } from '../../src/errors.ts';
import { expectRefusal, expectSuccess, literal, startGatehouse, tempFiles } from '../helpers/agent-cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { answerDeviceCode } from '../helpers/device-approval.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { cliTimeouts, freePort, runGatehouse } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

/** SPEC 6.3: 8 characters of the consonant alphabet, shown as XXXX-XXXX. */
const userCodeShape = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;
const person = { email: 'ada@example.com', password: 'analytical-engine-1843' };

interface AuthorizationLine {
  event: 'device_authorization';
  verification_uri: string;
  user_code: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

/** An issuer that answers discovery and the device authorization, then says the code expired. */
async function expiringIssuer(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    req.resume();
    if (req.url === '/.well-known/openid-configuration') {
      return json(200, { issuer, token_endpoint: `${issuer}/token`, device_authorization_endpoint: `${issuer}/device/auth` });
    }
    if (req.url === '/device/auth') {
      return json(200, { device_code: 'dc', user_code: 'BCDF-GHJK', verification_uri: `${issuer}/device`, expires_in: 60, interval: 1 });
    }
    return json(400, { error: 'expired_token', error_description: 'device code is expired' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('gatehouse agent login against a Gatehouse with the device flow', () => {
  let db: TestDatabase;
  let server: TestServer;
  let user: UserRow;
  /** The device's folder: state files only, no config. */
  let device: string;
  let resourceServer: client.Configuration;

  const agent = (args: string[]) => runGatehouse(['agent', ...args], { cwd: device });
  const loginArgs = (state: string, extra: string[] = []) => [
    'agent',
    'login',
    '--issuer',
    server.url,
    '--client-id',
    testClients.tv.client_id,
    '--state',
    state,
    ...extra,
  ];
  const stateOf = (file: string) => JSON.parse(readFileSync(path.join(device, file), 'utf8')) as LoginState;
  const writeState = (file: string, state: LoginState) => writeFileSync(path.join(device, file), JSON.stringify(state), { mode: 0o600 });
  const introspect = (token: string) => client.tokenIntrospection(resourceServer, token);
  const jsonLines = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const warnings: string[] = [];
  const here = { warn: (line: string) => warnings.push(line) };

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    // The device polls every second (the default is 5 s), so a test waits for the person, not the clock.
    server = await startTestServer(db, { clients: [testClients.tv, testClients.service], security: { devicePollInterval: '1s' } });
    user = await server.gh.users.createLocal({ email: person.email, name: 'Ada Lovelace', password: person.password }, 'test');
    resourceServer = await client.discovery(new URL(server.url), testClients.service.client_id, testClients.service.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    device = mkdtempSync(path.join(tmpdir(), 'gatehouse-login-'));
  });

  afterAll(async () => {
    await server?.stop();
    if (device) rmSync(device, { recursive: true, force: true });
    await db?.drop();
  });

  it('prints the user code as a JSON line, polls until the person approves, and keeps the tokens in a 0600 state file', async () => {
    const run = startGatehouse([...loginArgs('tv.json'), '--json'], { cwd: device });
    const authorization = JSON.parse(await run.line((l) => l.startsWith('{'))) as AuthorizationLine;
    expect(authorization).toEqual({
      event: 'device_authorization',
      verification_uri: `${server.url}/device`,
      user_code: expect.stringMatching(userCodeShape),
      verification_uri_complete: `${server.url}/device?user_code=${authorization.user_code}`,
      expires_in: 600,
      interval: 1,
    });
    expect(await answerDeviceCode(server.url, authorization.user_code, 'confirm', person)).toContain('Living-room TV');

    const result = await run.done;
    expectSuccess(result);
    const lines = jsonLines(result.stdout);
    expect(lines).toHaveLength(2);
    const state = stateOf('tv.json');
    expect(lines[1]).toEqual({
      event: 'signed_in',
      via: 'device_authorization',
      version: 1,
      kind: 'login',
      issuer: server.url,
      client_id: 'tv',
      token_endpoint: `${server.url}/token`,
      expires_at: state.expires_at,
      scope: 'openid offline_access',
      subject: user.id,
      created_at: state.created_at,
      state_file: 'tv.json',
    });
    // The tokens live in the file only.
    expect(result.stdout).not.toContain(state.access_token);
    expect(result.stdout).not.toContain(state.refresh_token);
    expect(state).toEqual({
      version: 1,
      kind: 'login',
      issuer: server.url,
      client_id: 'tv',
      token_endpoint: `${server.url}/token`,
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_at: expect.stringMatching(/^\d{4}-/),
      scope: 'openid offline_access',
      subject: user.id,
      created_at: expect.stringMatching(/^\d{4}-/),
    });
    expect(Date.parse(state.expires_at)).toBeGreaterThan(Date.now() + 60_000);
    expect(statSync(path.join(device, 'tv.json')).mode & 0o777).toBe(0o600);
    expect(tempFiles(device)).toEqual([]);
    expect(await introspect(state.access_token)).toMatchObject({ active: true, client_id: 'tv', sub: user.id });
  });

  it('refreshes on a second run instead of asking the person again, and keeps the rotated refresh token', async () => {
    const before = stateOf('tv.json');
    const result = await runGatehouse([...loginArgs('tv.json'), '--json'], { cwd: device });
    expectSuccess(result);
    // No device authorization, no user code: one line, the result.
    const lines = jsonLines(result.stdout);
    expect(lines).toEqual([expect.objectContaining({ event: 'signed_in', via: 'refresh_token', client_id: 'tv', subject: user.id })]);
    expect(result.stdout).not.toContain('user_code');
    const after = stateOf('tv.json');
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(after.access_token).not.toBe(before.access_token);
    expect(after).toMatchObject({ created_at: before.created_at, refreshed_at: expect.stringMatching(/^\d{4}-/) });
    expect(statSync(path.join(device, 'tv.json')).mode & 0o777).toBe(0o600);
  });

  it("`agent token` prints the kept access token, active at introspection for the person and the device's client", async () => {
    const state = stateOf('tv.json');
    const result = await agent(['token', '--state', 'tv.json']);
    expectSuccess(result);
    expect(result.stdout).toBe(`${state.access_token}\n`);
    expect(await introspect(result.stdout.trim())).toMatchObject({ active: true, client_id: 'tv', sub: user.id });
  });

  it('`agent token` refreshes an access token that has expired, once, however many ask at the same time', async () => {
    const state = stateOf('tv.json');
    writeState('tv.json', { ...state, expires_at: new Date(Date.now() - 1000).toISOString() });
    const statePath = path.join(device, 'tv.json');
    // In this process: three at once, serialized by the state file's lock (a second use of a spent refresh token would end the sign-in).
    const results = await Promise.all([1, 2, 3].map(() => requestToken({ statePath, ...here })));
    const tokens = new Set(results.map((r) => r.response.access_token));
    expect(tokens.size).toBe(1);
    const after = stateOf('tv.json');
    expect([...tokens]).toEqual([after.access_token]);
    expect(after.access_token).not.toBe(state.access_token);
    expect(after.refresh_token).not.toBe(state.refresh_token);
    expect(results[0]!.response).toEqual({
      access_token: after.access_token,
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      scope: 'openid offline_access',
    });
    expect(results[0]!.response).not.toHaveProperty('refresh_token');
    expect(await introspect(after.access_token)).toMatchObject({ active: true, sub: user.id });
    expect(existsSync(`${statePath}.lock`)).toBe(false);
  });

  it('starts a new sign-in when the issuer no longer accepts the saved refresh token; `agent token` says to sign in again', async () => {
    const state = stateOf('tv.json');
    writeState('dead.json', { ...state, refresh_token: 'spent-or-revoked', expires_at: new Date(Date.now() - 1000).toISOString() });
    const statePath = path.join(device, 'dead.json');
    const token = await requestToken({ statePath, ...here }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(token).toBeInstanceOf(GatehouseError);
    expect((token as GatehouseError).message).toBe(
      `the issuer no longer accepts the sign-in saved in ${statePath} (grant request is invalid); sign in again with \`gatehouse agent login --issuer ${server.url} --client-id tv --state ${statePath}\``,
    );

    // `agent login` falls back to the device flow: it gets as far as showing a new code.
    warnings.length = 0;
    const shown: string[] = [];
    const stop = new Error('stop here');
    const outcome = await login({
      issuer: server.url,
      clientId: 'tv',
      statePath,
      ...here,
      onAuthorization: (authorization) => {
        shown.push(authorization.user_code);
        throw stop;
      },
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).toBe(stop);
    expect(shown).toEqual([expect.stringMatching(userCodeShape)]);
    expect(warnings).toEqual([`the issuer no longer accepts the sign-in saved in ${statePath}; signing in again`]);
  });

  it('shows the URL, the code and a QR code; when the person cancels, says the sign-in was refused and keeps nothing', async () => {
    const run = startGatehouse(loginArgs('cancelled.json'), { cwd: device });
    const code = (await run.line((l) => userCodeShape.test(l.trim()))).trim();
    await run.line((l) => l.startsWith('Waiting for the sign-in'));
    const shown = run.stdout();
    expect(shown).toContain(`To sign in this device, open\n  ${server.url}/device\nand enter the code\n  ${code}\n`);
    expect(shown).toContain(`or open ${server.url}/device?user_code=${code}\nor scan this QR code with your phone:\n`);
    // qrcode-terminal's small mode draws with half blocks.
    expect(shown).toMatch(/[▀▄█]{20,}/);
    expect(shown).toMatch(/Waiting for the sign-in \(the code expires in 10 minutes\)\.\.\.\n$/);

    expect(await answerDeviceCode(server.url, code, 'cancel', person)).toContain('cancelled');
    const result = await run.done;
    expectRefusal(result, 77, /^gatehouse: the sign-in was refused on the verification page \(access_denied\)$/, { stdout: true });
    expect(result.stdout).toBe(shown);
    expect(existsSync(path.join(device, 'cancelled.json'))).toBe(false);
    expect(tempFiles(device)).toEqual([]);
  });

  it('says plainly when the client id is unknown, the issuer cannot be reached, or the code expired', async () => {
    const expiring = await expiringIssuer();
    const nobody = `http://127.0.0.1:${await freePort()}`;
    try {
      const [unknown, unreachable, expired] = await Promise.all([
        agent(['login', '--issuer', server.url, '--client-id', 'no-such-tv', '--state', 'unknown.json']),
        agent(['login', '--issuer', nobody, '--client-id', 'tv', '--state', 'unreachable.json']),
        agent(['login', '--issuer', expiring.url, '--client-id', 'tv', '--state', 'expired.json', '--json']),
      ]);
      expectRefusal(
        unknown!,
        77,
        /^gatehouse: the issuer does not accept the client id no-such-tv \(invalid_client\): check --client-id; it must be a public client/,
      );
      expectRefusal(unreachable!, 69, new RegExp(`^gatehouse: cannot reach the issuer at ${literal(nobody)}: connect ECONNREFUSED`));
      expectRefusal(expired!, 77, /^gatehouse: the code expired before anyone signed in; run the command again$/, { stdout: true });
      expect(jsonLines(expired!.stdout)).toEqual([expect.objectContaining({ event: 'device_authorization', user_code: 'BCDF-GHJK' })]);
      expect(readdirSync(device).filter((f) => /^(unknown|unreachable|expired)\.json/.test(f))).toEqual([]);
    } finally {
      await new Promise((resolve) => expiring.server.close(resolve));
    }
  });

  it('refuses a state file written for another client or by another agent command, and asks nobody', async () => {
    const state = stateOf('tv.json');
    writeState('other-client.json', { ...state, client_id: 'radio' });
    const attempt = (file: string) =>
      login({ issuer: server.url, clientId: 'tv', statePath: path.join(device, file), ...here, onAuthorization: () => undefined }).then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(await attempt('other-client.json')).toMatchObject({
      code: 'agent.state_invalid',
      message: `state file ${path.join(device, 'other-client.json')} was written for client radio, not tv`,
    });
    writeFileSync(
      path.join(device, 'enrolled.json'),
      JSON.stringify({
        version: 1,
        kind: 'enrollment',
        issuer: server.url,
        client_id: 'dev_1',
        client_secret: 's',
        token_endpoint: `${server.url}/token`,
        registration_url: `${server.url}/api/register-device`,
        manufacturer_id: 'SN-1',
        device_id: 'dev_1',
        created_at: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
    expect(await attempt('enrolled.json')).toMatchObject({
      code: 'agent.state_invalid',
      message: `state file ${path.join(device, 'enrolled.json')} holds credentials from \`agent enroll\`, not a sign-in from \`agent login\``,
    });
  });
});
