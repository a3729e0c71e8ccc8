/**
 * `gatehouse agent enroll` (SPEC 6.2), run as a child process in a folder
 * without config.yaml, the way a device runs it: identical firmware carries one
 * signed device token; each device enrolls once with its own manufacturer id at
 * `POST /api/register-device`, keeps its own client id and secret in a 0600
 * state file, re-uses that file on every later start, and gets access tokens
 * from it with `agent token`. Every refusal of the server is one line with the
 * server's own words and an exit code a script can tell apart.
 *
 * The server runs in this process on SQLite (the enrollment's count and
 * duplicate races are the server's tests); admin commands run against the
 * same database through config.yaml.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { enroll as enrollDevice } from '../../src/agent/enroll.ts';
import type { EnrollmentState } from '../../src/agent/state.ts';
import { requestToken } from '../../src/agent/token.ts';
import { exitCodes } from '../../src/cli/exit-codes.ts';
import { GatehouseError } from '../../src/errors.ts';
import { expectRefusal, expectSuccess, literal, tempFiles } from '../helpers/agent-cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, freePort, runGatehouse, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

const jwtSecret = 'device-jwt-secret-for-tests-0123456789abcdef';
const deviceRegistration = { enabled: true, jwt: { secret: jwtSecret, issuer: 'example.com' } };

interface DeviceJson {
  clientId: string;
  manufacturerId: string | null;
  path: string;
  deviceTokenId: string | null;
  lastToken: string | null;
}

describe('gatehouse agent enroll against a Gatehouse with device registration', () => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  /** The devices' folder: state files only, no config. */
  let devices: string;
  /** The firmware's token: two devices may enroll with it. */
  let firmware: { id: string; token: string };

  const admin = async <T>(args: string[]): Promise<T> => {
    const result = await runGatehouse(['--config', ws.configPath, ...args, '--json'], { cwd: ws.cwd });
    if (result.code !== 0) throw new Error(`gatehouse ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  const agent = (args: string[]) => runGatehouse(['agent', ...args], { cwd: devices });
  const enroll = (token: string, manufacturerId: string, state: string, extra: string[] = ['--url', server.url]) =>
    agent(['enroll', '--token', token, '--manufacturer-id', manufacturerId, '--state', state, ...extra]);
  const stateOf = (file: string) => JSON.parse(readFileSync(path.join(devices, file), 'utf8')) as EnrollmentState;
  const registrationUrl = () => `${server.url}/api/register-device`;
  /** A device token signed here, with the server's secret unless told otherwise. */
  const signed = (claims: { jti: string; exp: number; iss?: string }, secret = jwtSecret) =>
    new SignJWT({ registration_url: registrationUrl() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(claims.iss ?? 'example.com')
      .setJti(claims.jti)
      .setIssuedAt(claims.exp - 3600)
      .setExpirationTime(claims.exp)
      .sign(new TextEncoder().encode(secret));
  const newToken = async (maxDevices: number) =>
    await server.gh.devices.createToken({ expiresAt: Date.now() + 3_600_000, maxDevices, clientTemplate: null, description: null }, 'test');

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, { deviceRegistration, clients: [testClients.service] });
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        `deviceRegistration: ${JSON.stringify(deviceRegistration)}`,
        `clients: ${JSON.stringify([testClients.service])}`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    devices = mkdtempSync(path.join(tmpdir(), 'gatehouse-enroll-'));
  });

  afterAll(async () => {
    await server?.stop();
    ws?.cleanup();
    if (devices) rmSync(devices, { recursive: true, force: true });
    await db?.drop();
  });

  it('enrolls two devices with one device token, each as its own client in its own 0600 state file', async () => {
    const made = await newToken(2);
    firmware = { id: made.row.id, token: made.token };
    const [first, second] = await Promise.all([
      // The issuer as --url; and no --url at all: the registration_url the token carries.
      enroll(firmware.token, 'SN-0001', 'sensor-1.json'),
      enroll(firmware.token, 'SN-0002', 'sensor-2.json', []),
    ]);
    expectSuccess(first!);
    expectSuccess(second!);
    const states = [stateOf('sensor-1.json'), stateOf('sensor-2.json')];
    expect(first!.stdout).toBe(`enrolled this device (manufacturer id SN-0001) as client ${states[0]!.client_id}; credentials saved in sensor-1.json\n`);
    expect(second!.stdout).toBe(`enrolled this device (manufacturer id SN-0002) as client ${states[1]!.client_id}; credentials saved in sensor-2.json\n`);
    expect(states[0]!.client_id).not.toBe(states[1]!.client_id);
    for (const [i, state] of states.entries()) {
      expect(state).toEqual({
        version: 1,
        kind: 'enrollment',
        issuer: server.url,
        client_id: expect.stringMatching(/^dev_/),
        client_secret: expect.any(String),
        token_endpoint: `${server.url}/token`,
        registration_url: registrationUrl(),
        manufacturer_id: `SN-000${i + 1}`,
        device_id: state.client_id,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect(statSync(path.join(devices, `sensor-${i + 1}.json`)).mode & 0o777).toBe(0o600);
    }
    expect(tempFiles(devices)).toEqual([]);
  });

  it("refuses a device whose manufacturer id is already enrolled, with the server's 409 message, and writes no state file", async () => {
    const result = await enroll(firmware.token, 'SN-0001', 'impostor.json');
    expectRefusal(
      result,
      73,
      /^gatehouse: the issuer refused the enrollment: a device with manufacturer id SN-0001 is already enrolled \(device\.duplicate\); no new credentials were issued; use the state file from the first enrollment of SN-0001$/,
    );
    expect(existsSync(path.join(devices, 'impostor.json'))).toBe(false);
    expect(tempFiles(devices)).toEqual([]);
    expect(await server.gh.registrar.listRegistered('device')).toHaveLength(2);
  });

  it('re-uses the state file on a later start without a request (the token was revoked meanwhile, and that changes nothing)', async () => {
    const before = stateOf('sensor-1.json');
    await server.gh.devices.revokeToken(firmware.id, 'test');
    const [again, json] = await Promise.all([
      enroll(firmware.token, 'SN-0001', 'sensor-1.json'),
      enroll(firmware.token, 'SN-0001', 'sensor-1.json', ['--url', server.url, '--json']),
    ]);
    // A request would have been refused (revoked token, duplicate id): success means none was made.
    expectSuccess(again!);
    expect(again!.stdout).toBe(
      `re-using the state in sensor-1.json: this device (manufacturer id SN-0001) is already enrolled as client ${before.client_id}\n`,
    );
    expect(stateOf('sensor-1.json')).toEqual(before);
    expectSuccess(json!);
    const shown = JSON.parse(json!.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ kind: 'enrollment', client_id: before.client_id, manufacturer_id: 'SN-0001', reused: true });
    expect(shown).not.toHaveProperty('client_secret');
    expect(json!.stdout).not.toContain(before.client_secret);
  });

  it('prints access tokens from the enrollment state file that introspection reports active; `device list` shows both devices and the last token', async () => {
    const state = stateOf('sensor-2.json');
    const result = await agent(['token', '--state', 'sensor-2.json']);
    expectSuccess(result);
    expect(result.stdout).toMatch(/^\S+\n$/);
    const config = await client.discovery(new URL(server.url), testClients.service.client_id, testClients.service.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    expect(await client.tokenIntrospection(config, result.stdout.trim())).toMatchObject({ active: true, client_id: state.client_id });
    const listed = await admin<DeviceJson[]>(['device', 'list']);
    const first = stateOf('sensor-1.json');
    expect(listed.map((d) => [d.manufacturerId, d.clientId, d.path, d.deviceTokenId]).sort()).toEqual([
      ['SN-0001', first.client_id, 'device-token', firmware.id],
      ['SN-0002', state.client_id, 'device-token', firmware.id],
    ]);
    expect(listed.find((d) => d.clientId === state.client_id)?.lastToken).toEqual(expect.stringMatching(/^\d{4}-/));
  });

  it('says a device token signed with another secret is not valid, and an expired one has expired; writes no state file', async () => {
    const { row } = await newToken(5);
    const now = Math.floor(Date.now() / 1000);
    const forged = await signed({ jti: row.id, exp: now + 3600 }, 'some-other-secret-that-is-long-enough-0123');
    // Signed here with the real secret: the server allows 30 s of clock skew, so "expired" is long ago.
    const expired = await signed({ jti: row.id, exp: now - 600 });
    const [forgedRun, expiredRun] = await Promise.all([enroll(forged, 'SN-0100', 'forged.json'), enroll(expired, 'SN-0101', 'expired.json')]);
    expectRefusal(
      forgedRun!,
      77,
      /^gatehouse: the issuer refused the enrollment: the device token signature is not valid \(device\.invalid_token\); ask for a new device token$/,
    );
    expectRefusal(
      expiredRun!,
      77,
      /^gatehouse: the issuer refused the enrollment: the device token has expired \(device\.invalid_token\); ask for a new device token$/,
    );
    expect(existsSync(path.join(devices, 'forged.json'))).toBe(false);
    expect(existsSync(path.join(devices, 'expired.json'))).toBe(false);
  });

  /** The same code in this process, for the refusals whose one-line rendering the child-process tests above already show. */
  const enrollHere = (token: string, manufacturerId: string, state: string, url: string | undefined = server.url) =>
    enrollDevice({ url, token, manufacturerId, statePath: path.join(devices, state), warn: () => undefined });
  const refusal = async (attempt: Promise<unknown>): Promise<{ code: string; exit: number; message: string }> => {
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof GatehouseError)) throw new Error(`expected a GatehouseError, got ${String(err)}`);
    return { code: err.code, exit: exitCodes[err.code], message: err.message };
  };

  it('says a revoked device token is revoked, one for another issuer is not for this server, and garbage is not a JWT', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const { row } = await newToken(5);
    const otherIssuer = await signed({ jti: row.id, exp, iss: 'elsewhere.example' });
    expect(await refusal(enrollHere(firmware.token, 'SN-0102', 'revoked.json'))).toEqual({
      code: 'device.invalid_token',
      exit: 77,
      message: 'the issuer refused the enrollment: the device token has been revoked (device.invalid_token); ask for a new device token',
    });
    expect((await refusal(enrollHere(otherIssuer, 'SN-0103', 'other.json'))).message).toBe(
      'the issuer refused the enrollment: the device token was not issued for this server (expected issuer example.com) (device.invalid_token); ask for a new device token',
    );
    expect((await refusal(enrollHere('not-a-jwt', 'SN-0104', 'garbage.json'))).message).toBe(
      'the issuer refused the enrollment: the device token is not a valid signed JWT (device.invalid_token); ask for a new device token',
    );
    expect(readdirSync(devices).filter((f) => /^(revoked|other|garbage)\.json$/.test(f))).toEqual([]);
  });

  it('says a used-up device token has been used by its maximum number of devices', async () => {
    const { token } = await newToken(1);
    await enrollHere(token, 'SN-0200', 'one.json');
    expect(await refusal(enrollHere(token, 'SN-0201', 'two.json'))).toMatchObject({
      code: 'device.invalid_token',
      message: expect.stringMatching(
        /^the issuer refused the enrollment: the device token has been used by the maximum number of devices \(1\) \(device\.invalid_token\)/,
      ),
    });
  });

  it("repeats the server's words for a malformed manufacturer id (400, a usage error)", async () => {
    const { token } = await newToken(5);
    expect(await refusal(enrollHere(token, 'no spaces allowed', 'bad-id.json'))).toMatchObject({
      code: 'input.invalid',
      exit: 64,
      message: expect.stringMatching(/^the issuer refused the enrollment: "manufacturerId" must be 1 to 128 letters, digits.* \(input\.invalid\)$/),
    });
  });

  it('spends nothing when the state file cannot be written: the same device enrolls afterwards', async () => {
    const { token } = await newToken(1);
    expect(await refusal(enrollHere(token, 'SN-0300', 'no-such-folder/state.json'))).toMatchObject({
      code: 'agent.state_invalid',
      message: expect.stringMatching(/^cannot write state file .*no-such-folder\/state\.json: .*ENOENT/),
    });
    expect((await enrollHere(token, 'SN-0300', 'written.json')).reused).toBe(false);
  });

  it('says where there is no device enrollment (HTTP 404)', async () => {
    const url = `${server.url}/elsewhere/api/register-device`;
    expect(await refusal(enrollHere(firmware.token, 'SN-0400', 'nowhere.json', url))).toEqual({
      code: 'agent.refused',
      exit: 77,
      message: `the enrollment failed: ${url} answered HTTP 404; there is no device enrollment there (check --url, and that deviceRegistration is enabled on the server)`,
    });
  });

  it('refuses a state file from another device or another kind of agent, and sends nothing', async () => {
    expect((await refusal(enrollHere(firmware.token, 'SN-0002', 'sensor-1.json'))).message).toBe(
      `state file ${path.join(devices, 'sensor-1.json')} was written for manufacturer id SN-0001, not SN-0002`,
    );
    const registered = path.join(devices, 'registered.json');
    writeFileSync(
      registered,
      JSON.stringify({
        version: 1,
        kind: 'registration',
        issuer: server.url,
        client_id: 'c',
        client_secret: 's',
        registration_access_token: 'r',
        registration_client_uri: `${server.url}/reg/c`,
        token_endpoint: `${server.url}/token`,
        created_at: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
    expect(await refusal(enrollHere(firmware.token, 'SN-0001', 'registered.json'))).toEqual({
      code: 'agent.state_invalid',
      exit: 65,
      message: `state file ${registered} holds credentials from \`agent register\`, not from an enrollment`,
    });
  });

  it('after `device revoke`, `agent token` says the device may have been revoked, and enrolling it again is refused (403)', async () => {
    const state = stateOf('sensor-2.json');
    await server.gh.registrar.delete(state.client_id, 'test');
    const statePath = path.join(devices, 'sensor-2.json');
    expect(await refusal(requestToken({ statePath, warn: () => undefined }))).toEqual({
      code: 'agent.refused',
      exit: 77,
      message: `the issuer no longer accepts this device's credentials (invalid_client); it may have been revoked, and a revoked device cannot enroll again: ask an admin (client ${state.client_id}, state file ${statePath})`,
    });
    const { token } = await newToken(5);
    expect(await refusal(enrollHere(token, 'SN-0002', 'sensor-2-again.json'))).toEqual({
      code: 'device.not_allowed',
      exit: 77,
      message: 'the issuer refused the enrollment: the device with manufacturer id SN-0002 was revoked and cannot enroll again (device.not_allowed)',
    });
    expect(existsSync(path.join(devices, 'sensor-2-again.json'))).toBe(false);
  });

  it('refuses plain http to anything but the device itself, and a token without a URL in it when --url is absent', async () => {
    expect(await refusal(enrollHere('a.b.c', 'SN-1', 'never.json', 'http://id.example.com'))).toEqual({
      code: 'input.invalid',
      exit: 64,
      message: 'the URL http://id.example.com must use https (plain http is allowed only for 127.0.0.1, localhost and ::1)',
    });
    expect(
      (await refusal(enrollDevice({ token: 'a.b.c', manufacturerId: 'SN-1', statePath: path.join(devices, 'never.json'), warn: () => undefined }))).message,
    ).toBe('--url is missing and the token carries no registration_url to enroll at; give --url (the issuer, or its /api/register-device URL)');
    expect(existsSync(path.join(devices, 'never.json'))).toBe(false);
  });
});

describe('gatehouse agent enroll without a reachable server', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'gatehouse-enroll-offline-'));
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('says it cannot reach a URL nobody listens on, and writes no state file', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runGatehouse(['agent', 'enroll', '--url', url, '--token', 'a.b.c', '--manufacturer-id', 'SN-1', '--state', 'device.json'], { cwd });
    expectRefusal(result, 69, new RegExp(`^gatehouse: cannot reach the issuer at ${literal(url)}/api/register-device: connect ECONNREFUSED`));
    expect(readdirSync(cwd)).toEqual([]);
  });
});
