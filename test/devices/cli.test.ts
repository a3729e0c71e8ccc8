/**
 * The device CLI (SPEC 6.2) beside a running server on the same database, on
 * SQLite and PostgreSQL: `device-token create` prints a signed JWT (iss, exp,
 * jti = the id, registration_url) that devices enroll with up to
 * `--max-devices`; `device-token list` counts the devices; `device-token
 * revoke` stops the token at the endpoint; `device list` shows enrolled devices
 * with their manufacturer id and path; `device revoke` makes the device's
 * access token inactive; bad flags get one line and a non-zero exit.
 *
 * The first `create` runs the real program as a child process; the rest runs
 * `runCli` in this process (each spawn costs 1-2 s of CPU).
 */
import { decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliTimeouts, type CliWorkspace, databaseYaml, runGatehouse, writeWorkspace } from '../cli/gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { deviceConfig, deviceJwtIssuer, deviceJwtSecret, enroll, newManufacturerId, secretKey } from '../helpers/devices.ts';
import { clientCredentials } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const day = 86_400_000;

interface DeviceTokenJson {
  id: string;
  description: string | null;
  maxDevices: number;
  devices: number;
  state: string;
  clientTemplate: string | null;
  expires: string;
  revoked: string | null;
  token?: string;
  registrationUrl?: string;
}

interface DeviceJson {
  id: string;
  clientId: string;
  name: string | null;
  manufacturerId: string | null;
  path: string;
  deviceTokenId: string | null;
  registrationTokenId: string | null;
  state: string;
  lastToken: string | null;
}

describe.each(databaseKinds)('device CLI on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  let introspector: client.Configuration;
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args]);
  const cliJson = <T>(args: string[]) => cli([...args, '--json']).then((r) => parsed<T>(r));
  const active = async (accessToken: string) => (await client.tokenIntrospection(introspector, accessToken)).active;

  // State carried from test to test (they run in order).
  let fleet: DeviceTokenJson;
  const enrolled: { manufacturerId: string; clientId: string; clientSecret: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, deviceConfig());
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        'clients:',
        `  - ${JSON.stringify(testClients.service)}`,
        `deviceRegistration: { enabled: true, jwt: { secret: ${JSON.stringify(deviceJwtSecret)}, issuer: ${deviceJwtIssuer} } }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    introspector = await client.discovery(new URL(server.url), 'service', testClients.service.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  afterAll(async () => {
    await server?.stop();
    ws?.cleanup();
    await db?.drop();
  });

  it('device-token create prints a signed JWT with iss, exp, jti (the id) and the registration URL, good for --max-devices devices', async () => {
    const from = Date.now();
    const result = await runGatehouse(
      ['--config', ws.configPath, 'device-token', 'create', '--max-devices', '2', '--expires', '30d', '--description', 'sensor fleet', '--json'],
      { cwd: ws.cwd },
    );
    const to = Date.now();
    fleet = parsed<DeviceTokenJson>(result);
    expect(fleet).toMatchObject({
      maxDevices: 2,
      devices: 0,
      state: 'active',
      description: 'sensor fleet',
      revoked: null,
      registrationUrl: `${server.url}/api/register-device`,
    });
    expect(fleet.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(decodeProtectedHeader(fleet.token!)).toMatchObject({ alg: 'HS256', typ: 'JWT' });
    const { payload } = await jwtVerify(fleet.token!, secretKey(), { algorithms: ['HS256'] });
    expect(payload).toMatchObject({ iss: deviceJwtIssuer, jti: fleet.id, registration_url: `${server.url}/api/register-device` });
    expect(payload.exp! * 1000).toBeGreaterThanOrEqual(Math.floor((from + 30 * day) / 1000) * 1000);
    expect(payload.exp! * 1000).toBeLessThanOrEqual(to + 30 * day);
    expect(Math.floor(Date.parse(fleet.expires) / 1000)).toBe(payload.exp);
    // The JWT itself is not stored.
    expect(JSON.stringify(await server.gh.devices.getToken(fleet.id))).not.toContain(fleet.token);

    for (let i = 0; i < 2; i += 1) {
      const manufacturerId = newManufacturerId('cli');
      const answer = await enroll(server.url, { token: fleet.token, manufacturerId });
      expect(answer.status, answer.text).toBe(201);
      enrolled.push({ manufacturerId, clientId: String(answer.body.clientId), clientSecret: String(answer.body.clientSecret) });
    }
    const third = await enroll(server.url, { token: fleet.token, manufacturerId: newManufacturerId('cli') });
    expect(third.status, third.text).toBe(401);
  });

  it('device-token list shows how many devices enrolled with each token, without the JWT', async () => {
    const result = await cli(['device-token', 'list', '--json']);
    const list = parsed<DeviceTokenJson[]>(result);
    expect(list.find((t) => t.id === fleet.id)).toMatchObject({ maxDevices: 2, devices: 2, state: 'used up' });
    expect(result.stdout).not.toContain(fleet.token);
    expect(await cliJson<DeviceTokenJson>(['device-token', 'show', fleet.id])).toMatchObject({ id: fleet.id, devices: 2 });
  });

  it('device list shows the enrolled devices with their manufacturer id, path "device-token" and device token', async () => {
    const devices = await cliJson<DeviceJson[]>(['device', 'list']);
    expect(devices.map((d) => d.id).sort()).toEqual(enrolled.map((e) => e.clientId).sort());
    for (const e of enrolled) {
      expect(devices.find((d) => d.id === e.clientId)).toMatchObject({
        clientId: e.clientId,
        name: `Device ${e.manufacturerId}`,
        manufacturerId: e.manufacturerId,
        path: 'device-token',
        deviceTokenId: fleet.id,
        registrationTokenId: null,
        state: 'enabled',
      });
    }
  });

  it("device revoke makes the device's access token inactive at introspection and ends its credentials", async () => {
    const device = enrolled[0]!;
    const issued = await clientCredentials(server.url, device.clientId, device.clientSecret);
    expect(issued.status).toBe(200);
    const accessToken = String(issued.body.access_token);
    expect(await active(accessToken)).toBe(true);
    // The token time is written in the background, at most once a minute.
    await vi.waitFor(async () => expect((await server.gh.registrar.findRecord(device.clientId))?.last_token_at).toEqual(expect.any(Number)));
    expect((await cliJson<DeviceJson[]>(['device', 'list'])).find((d) => d.id === device.clientId)?.lastToken).toEqual(expect.any(String));

    const revoked = await cliJson<DeviceJson>(['device', 'revoke', device.clientId]);
    expect(revoked).toMatchObject({ id: device.clientId, state: 'revoked', manufacturerId: device.manufacturerId, path: 'device-token' });
    expect(await active(accessToken)).toBe(false);
    expect((await clientCredentials(server.url, device.clientId, device.clientSecret)).body.error).toBe('invalid_client');
    expect((await cliJson<DeviceJson[]>(['device', 'list'])).map((d) => d.id)).toEqual([enrolled[1]!.clientId]);
    // The other device is untouched.
    expect((await clientCredentials(server.url, enrolled[1]!.clientId, enrolled[1]!.clientSecret)).status).toBe(200);
    // The revoked device still carries the fleet's JWT: it cannot simply enroll again, even with uses left.
    const unlimited = await server.gh.devices.createToken({ expiresAt: Date.now() + 3_600_000, maxDevices: 0 }, 'test');
    const again = await enroll(server.url, { token: unlimited.token, manufacturerId: device.manufacturerId });
    expect(again.status, again.text).toBe(403);
    expect(again.body.error_description).toBe(`the device with manufacturer id ${device.manufacturerId} was revoked and cannot enroll again`);
    expectRefusal(await cli(['device', 'revoke', device.clientId]), 66, /^gatehouse: no device with id|was revoked/);
  });

  it('device-token revoke stops new enrollments with the token; devices enrolled with it keep working', async () => {
    const open = await cliJson<DeviceTokenJson>(['device-token', 'create', '--expires', '7d']);
    expect(open).toMatchObject({ maxDevices: 0, devices: 0, state: 'active' });
    expect((await enroll(server.url, { token: open.token, manufacturerId: newManufacturerId('open') })).status).toBe(201);

    const revoked = await cliJson<DeviceTokenJson>(['device-token', 'revoke', open.id]);
    expect(revoked).toMatchObject({ id: open.id, state: 'revoked', revoked: expect.any(String), devices: 1 });
    expect(revoked.token).toBeUndefined();
    const refused = await enroll(server.url, { token: open.token, manufacturerId: newManufacturerId('open') });
    expect(refused.status, refused.text).toBe(401);
    expect(refused.body.error_description).toBe('the device token has been revoked');
    expect((await clientCredentials(server.url, enrolled[1]!.clientId, enrolled[1]!.clientSecret)).status).toBe(200);
    expectRefusal(await cli(['device-token', 'revoke', 'no-such-token']), 66, /^gatehouse: no device token with id no-such-token$/);
  });

  it('refuses bad flags and unknown ids with one line and a non-zero exit, creating nothing', async () => {
    const before = (await server.gh.devices.listTokens()).length;
    expectRefusal(
      await cli(['device-token', 'create', '--max-devices', '-1', '--expires', '30d']),
      64,
      /--max-devices must be a whole number \(0 = no limit\), not "-1"/,
    );
    expectRefusal(await cli(['device-token', 'create', '--max-devices', 'ten', '--expires', '30d']), 64, /--max-devices must be a whole number/);
    expectRefusal(await cli(['device-token', 'create', '--max-devices', '2.5', '--expires', '30d']), 64, /--max-devices must be a whole number/);
    expectRefusal(await cli(['device-token', 'create', '--max-devices', '2', '--expires', 'yesterday']), 64, /"yesterday" is not a duration or date/);
    expectRefusal(await cli(['device-token', 'create', '--max-devices', '2', '--expires', '2001-01-01']), 64, /"2001-01-01" lies in the past/);
    // Beyond the columns: one line on both databases, not a database error.
    expectRefusal(
      await cli(['device-token', 'create', '--max-devices', '99999999999']),
      64,
      /--max-devices must be 0 \(no limit\) or a positive whole number up to 2147483647/,
    );
    expectRefusal(await cli(['device-token', 'create', '--description', 'd'.repeat(501)]), 64, /^gatehouse: --description must be at most 500 characters$/);
    expectRefusal(
      await cli(['device-token', 'create', '--client-template', 'no-such-client']),
      66,
      /--client-template: no static client with id no-such-client/,
    );
    expectRefusal(await cli(['device-token', 'show', 'no-such-token']), 66, /^gatehouse: no device token with id no-such-token$/);
    expectRefusal(await cli(['device', 'revoke', 'no-such-device']), 66, /^gatehouse: no device with id no-such-device/);
    expect((await server.gh.devices.listTokens()).length).toBe(before);
  });
});
