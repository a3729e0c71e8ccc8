/**
 * The registration CLI (SPEC 5) beside a running server on the same database,
 * on SQLite and PostgreSQL: `registration-token create|list|revoke` (the
 * secret printed once, never listed; a revoked token refused at the
 * endpoint), `client list` with registered clients, `client
 * disable|enable|delete` on a registered client (and one clear line with a
 * non-zero exit for a static or an unknown id), `device list`
 * (client_credentials clients with their registration token) and `device
 * revoke` (the device's tokens stop working).
 *
 * One case runs the real program as a child process (on the first database
 * kind: the exit code a shell sees, stdout and stderr apart, no stack trace);
 * the others run the same `runCli` in this process (test/cli/in-process.ts),
 * because every spawn costs 1-2 s of CPU.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256 } from '../../src/lib/secrets.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, runGatehouse, writeWorkspace } from '../cli/gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { clientCredentials, register, registered, registrationConfig, serviceMetadata, webMetadata, type Registered } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const redirectUri = 'http://127.0.0.1:9/cb';
const day = 86_400_000;

interface RegistrationTokenJson {
  id: string;
  description: string | null;
  count: number;
  uses: number;
  usesLeft: number;
  state: string;
  grantTypes: string[] | null;
  redirectHosts: string[] | null;
  scope: string | null;
  approval: boolean;
  aclTokenId: string | null;
  expires: string | null;
  revoked: string | null;
  token?: string;
  registrationEndpoint?: string;
}

interface ClientJson {
  id: string;
  name: string | null;
  source: string;
  grantTypes: string[];
}

interface DeviceJson {
  id: string;
  clientId: string;
  name: string | null;
  registrationTokenId: string | null;
  state: string;
}

describe.each(databaseKinds)('registration CLI on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  let introspector: client.Configuration;
  /** The CLI in this process, in the workspace's empty working directory. */
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args], { cwd: ws.cwd });
  const cliJson = <T>(args: string[]) => cli([...args, '--json']).then((r) => parsed<T>(r));
  /** The real program, for the one case per file that checks the process boundary. */
  const spawnOnce = kind === databaseKinds[0];
  const active = async (accessToken: string) => (await client.tokenIntrospection(introspector, accessToken)).active;

  // State carried from test to test (they run in order).
  let plain: RegistrationTokenJson;
  let app: Registered;
  let device: Registered;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const web = { ...testClients.web, redirect_uris: [redirectUri] };
    server = await startTestServer(db, { clients: [web, testClients.service], ...registrationConfig({ initialAccessToken: 'required' }) });
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        'clients:',
        `  - ${JSON.stringify(web)}`,
        `  - ${JSON.stringify(testClients.service)}`,
        'registration: { enabled: true, initialAccessToken: required }',
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

  it('registration-token create prints the token once with its count and expiry, and it registers clients', async () => {
    const from = Date.now();
    plain = await cliJson<RegistrationTokenJson>(['registration-token', 'create', '--count', '3', '--expires', '7d']);
    const to = Date.now();
    expect(plain).toMatchObject({
      count: 3,
      uses: 0,
      usesLeft: 3,
      state: 'active',
      approval: false,
      grantTypes: null,
      redirectHosts: null,
      scope: null,
      revoked: null,
      registrationEndpoint: `${server.url}/reg`,
    });
    expect(plain.token).toMatch(/^ghr_[A-Za-z0-9_-]{40,}$/);
    const expires = Date.parse(String(plain.expires));
    expect(expires).toBeGreaterThanOrEqual(from + 7 * day);
    expect(expires).toBeLessThanOrEqual(to + 7 * day);
    const row = await server.gh.registrationTokens.get(plain.id);
    expect(row.token_hash).toBe(sha256(plain.token!));
    expect(JSON.stringify(row)).not.toContain(plain.token);

    app = registered(await register(server.url, webMetadata(redirectUri, { client_name: 'CLI App' }), plain.token));
    device = registered(await register(server.url, serviceMetadata({ client_name: 'CLI Device' }), plain.token));
    expect((await server.gh.registrationTokens.get(plain.id)).uses).toBe(2);
  });

  it('registration-token create takes a template and refuses bad flags with one line', async () => {
    const fleet = await cliJson<RegistrationTokenJson>([
      'registration-token',
      'create',
      '--count',
      '50',
      '--expires',
      '30d',
      '--description',
      'sensor fleet',
      '--grant-types',
      'client_credentials',
      '--redirect-host',
      'example.com',
      '--scope',
      'openid email',
      '--approval',
    ]);
    expect(fleet).toMatchObject({
      count: 50,
      description: 'sensor fleet',
      grantTypes: ['client_credentials'],
      redirectHosts: ['example.com'],
      scope: 'openid email',
      approval: true,
    });
    const refused = await register(server.url, webMetadata('https://app.example.com/cb'), fleet.token);
    expect(refused.body.error_description).toContain('registration token template: grant type authorization_code');

    expectRefusal(await cli(['registration-token', 'create', '--count', '0', '--expires', '7d']), 64, /--count must be a positive whole number/);
    expectRefusal(await cli(['registration-token', 'create', '--count', 'many', '--expires', '7d']), 64, /--count must be a positive whole number/);
    expectRefusal(
      await cli(['registration-token', 'create', '--count', '1', '--expires', '7d', '--grant-types', 'password']),
      64,
      /--grant-types: unknown grant type password/,
    );
    expectRefusal(
      await cli(['registration-token', 'create', '--count', '1', '--expires', '7d', '--redirect-host', 'https://x/']),
      64,
      /--redirect-host: https:\/\/x\/ is not a host name/,
    );
    expectRefusal(await cli(['registration-token', 'create', '--count', '1', '--expires', '2001-01-01']), 64, /2001-01-01.* in the past/);
    expectRefusal(await cli(['registration-token', 'create', '--count', '1', '--expires', '7d', '--acl-token-id', 'nope']), 66, /no ACL token with id nope/);
    expect((await server.gh.registrationTokens.list()).map((r) => r.id).sort()).toEqual([plain.id, fleet.id].sort());
  });

  it('registration-token list shows uses without any token or hash, and revoke stops the token at the endpoint', async () => {
    const result = await cli(['registration-token', 'list', '--json']);
    const list = parsed<RegistrationTokenJson[]>(result);
    expect(list.find((t) => t.id === plain.id)).toMatchObject({ count: 3, uses: 2, usesLeft: 1, state: 'active' });
    expect(result.stdout).not.toContain('ghr_');
    expect(result.stdout).not.toContain(sha256(plain.token!));
    expect(result.stdout).not.toMatch(/token_?hash/i);

    const revoked = await cliJson<RegistrationTokenJson>(['registration-token', 'revoke', plain.id]);
    expect(revoked).toMatchObject({ id: plain.id, state: 'revoked', revoked: expect.any(String) });
    expect(revoked.token).toBeUndefined();
    const refused = await register(server.url, serviceMetadata(), plain.token);
    expect(refused.status).toBe(401);
    expect(refused.body.error_description).toContain('revoked');
    expectRefusal(await cli(['registration-token', 'revoke', 'no-such-token']), 66, /no registration token with id no-such-token/);
  });

  it('client list includes registered clients beside the static ones', async () => {
    const list = await cliJson<ClientJson[]>(['client', 'list']);
    const byId = new Map(list.map((c) => [c.id, c]));
    expect(byId.get('web')?.source).toBe('static');
    expect(byId.get(app.client_id)).toMatchObject({ source: 'registered', name: 'CLI App', grantTypes: ['authorization_code'] });
    expect(byId.get(device.client_id)).toMatchObject({ source: 'registered', name: 'CLI Device', grantTypes: ['client_credentials'] });
  });

  it('client disable, enable and delete work on a registered client', async () => {
    expect((await clientCredentials(server.url, device.client_id, device.client_secret)).status).toBe(200);
    expect(await cliJson<Record<string, unknown>>(['client', 'disable', device.client_id])).toEqual({ id: device.client_id, state: 'disabled (admin)' });
    expect((await clientCredentials(server.url, device.client_id, device.client_secret)).body.error).toBe('invalid_client');
    expect((await server.gh.registrar.findRecord(device.client_id))?.disabled_reason).toBe('admin');
    expect(await cliJson<Record<string, unknown>>(['client', 'enable', device.client_id])).toEqual({ id: device.client_id, state: 'enabled' });
    expect((await clientCredentials(server.url, device.client_id, device.client_secret)).status).toBe(200);

    const spare = registered(
      await register(
        server.url,
        serviceMetadata({ client_name: 'Spare' }),
        (await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test')).token,
      ),
    );
    expect(await cliJson<Record<string, unknown>>(['client', 'delete', spare.client_id])).toEqual({ id: spare.client_id, state: 'deleted' });
    expect((await clientCredentials(server.url, spare.client_id, spare.client_secret)).body.error).toBe('invalid_client');
    expect(await server.gh.registrar.findRecord(spare.client_id)).toBeUndefined();
    expect(await server.gh.clients.find(spare.client_id)).toBeUndefined();
  });

  it('client disable, enable and delete refuse a static client and an unknown id with one line and a non-zero exit', async () => {
    // Through the real program once, then every verb in this process.
    if (spawnOnce)
      expectRefusal(
        await runGatehouse(['--config', ws.configPath, 'client', 'disable', 'service'], { cwd: ws.cwd }),
        64,
        /^gatehouse: service is a static client: change it in config\.yaml$/,
      );
    for (const verb of ['disable', 'enable', 'delete']) {
      expectRefusal(await cli(['client', verb, 'service']), 64, /^gatehouse: service is a static client: change it in config\.yaml$/);
      expectRefusal(await cli(['client', verb, 'nobody-has-this-id']), 66, /^gatehouse: no client with id nobody-has-this-id$/);
    }
    // Nothing changed: the static client still works.
    expect((await clientCredentials(server.url, 'service', testClients.service.client_secret)).status).toBe(200);
    expect(await server.gh.registrar.findRecord('service')).toBeUndefined();
  });

  it('device list shows client_credentials clients with their registration token, and not applications', async () => {
    const devices = await cliJson<DeviceJson[]>(['device', 'list']);
    expect(devices.map((d) => d.id)).toEqual([device.client_id]);
    expect(devices[0]).toMatchObject({ clientId: device.client_id, name: 'CLI Device', registrationTokenId: plain.id, state: 'enabled' });
  });

  /** An access token the device got before it was revoked. */
  let deviceAccessToken = '';

  it('device revoke deletes the device: it gets no new tokens and is gone from the device list', async () => {
    const issued = await clientCredentials(server.url, device.client_id, device.client_secret);
    expect(issued.status).toBe(200);
    deviceAccessToken = String(issued.body.access_token);
    expect(await active(deviceAccessToken)).toBe(true);

    expectRefusal(await cli(['device', 'revoke', app.client_id]), 66, new RegExp(`no device with id ${app.client_id}`));
    const revoked = await cliJson<DeviceJson>(['device', 'revoke', device.client_id]);
    expect(revoked).toMatchObject({ id: device.client_id, state: 'revoked', registrationTokenId: plain.id });
    expect((await clientCredentials(server.url, device.client_id, device.client_secret)).body.error).toBe('invalid_client');
    expect(await cliJson<DeviceJson[]>(['device', 'list'])).toEqual([]);
    expect(await server.gh.clients.find(device.client_id)).toBeUndefined();
    expect(await server.gh.registrar.findRecord(device.client_id)).toBeUndefined();
  });

  it("device revoke makes the device's existing access token inactive at introspection", async () => {
    expect(deviceAccessToken).not.toBe('');
    expect(await active(deviceAccessToken)).toBe(false);
  });
});
