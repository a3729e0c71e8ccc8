/**
 * `gatehouse client delete` ends what the client held, on SQLite and
 * PostgreSQL: after the delete its access token introspects inactive, its
 * refresh token is refused, and a client registered again under the same id
 * (Keycloak `clientId` at the realm's `clients-registrations/default`) gets
 * none of it back. Its grants, codes and registration access token go with it
 * (oidc_model rows); a static client is refused with one clear line.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliTimeouts, type CliWorkspace, databaseYaml, writeWorkspace } from '../cli/gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const realmName = 'master';
const redirectUri = 'http://127.0.0.1:9/cb';
const email = 'ada@example.com';
const password = 'analytical-engine-1843';
const insecure = { execute: [client.allowInsecureRequests] };

describe.each(databaseKinds)('client delete on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  let realm: string;
  let introspector: client.Configuration;
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args]);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const registration = { enabled: true, initialAccessToken: 'required', policies: { consentRequired: false } };
    server = await startTestServer(db, { clients: [testClients.service], registration, compat: { keycloak: { realm: realmName } } });
    realm = `${server.url}/realms/${realmName}`;
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        'clients:',
        `  - ${JSON.stringify(testClients.service)}`,
        `registration: ${JSON.stringify(registration)}`,
        `compat: { keycloak: { realm: ${realmName} } }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    await server.gh.users.createLocal({ email, password }, 'test');
    introspector = await client.discovery(new URL(realm), 'service', testClients.service.client_secret, undefined, insecure);
  });
  afterAll(async () => {
    await server?.stop();
    ws?.cleanup();
    await db?.drop();
  });

  /** Registers `same` through the realm's Keycloak representation; returns its secret. */
  async function registerSame(): Promise<string> {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 3_600_000 }, 'test');
    const made = await fetch(`${realm}/clients-registrations/default`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `bearer ${token}` },
      body: JSON.stringify({ clientId: 'same', redirectUris: [redirectUri], standardFlowEnabled: true, serviceAccountsEnabled: true }),
    });
    expect(made.status, await made.clone().text()).toBe(201);
    return ((await made.json()) as { secret: string }).secret;
  }

  const active = async (accessToken: string) => (await client.tokenIntrospection(introspector, accessToken)).active;
  const rowsOf = async (clientId: string) =>
    (await server.gh.db('oidc_model').select('kind', 'payload'))
      .filter((r: { payload: string }) => (JSON.parse(r.payload) as { clientId?: string }).clientId === clientId)
      .map((r: { kind: string }) => r.kind)
      .sort();

  it('ends the access and refresh tokens of a deleted client, also when a client is registered again under its id', async () => {
    const secret = await registerSame();
    const config = await client.discovery(new URL(realm), 'same', secret, undefined, insecure);
    const service = await client.clientCredentialsGrant(config);
    const { callbackUrl, verifier } = await obtainCode(realm, {
      clientId: 'same',
      redirectUri,
      email,
      password,
      scope: 'openid email',
      authorizationEndpoint: config.serverMetadata().authorization_endpoint!,
      extra: { nonce: 'n-1' },
    });
    const login = await client.authorizationCodeGrant(config, new URL(callbackUrl), {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
      expectedNonce: 'n-1',
    });
    expect(login.refresh_token).toBeDefined();
    expect(await active(service.access_token)).toBe(true);
    expect(await active(login.access_token)).toBe(true);
    expect(await rowsOf('same')).toEqual(expect.arrayContaining(['AccessToken', 'ClientCredentials', 'Grant', 'RefreshToken', 'RegistrationAccessToken']));

    expect(parsed(await cli(['client', 'delete', 'same', '--json']))).toEqual({ id: 'same', state: 'deleted' });
    expect(await active(service.access_token)).toBe(false);
    expect(await active(login.access_token)).toBe(false);
    expect(await rowsOf('same')).toEqual([]);

    // The same id again, with a new secret: nothing of the old client comes back.
    const again = await client.discovery(new URL(realm), 'same', await registerSame(), undefined, insecure);
    expect(await active(service.access_token)).toBe(false);
    expect(await active(login.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(again, login.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await active((await client.clientCredentialsGrant(again)).access_token)).toBe(true);
    // Other clients' tokens are untouched.
    expect(await active((await client.clientCredentialsGrant(introspector)).access_token)).toBe(true);
  });

  it('refuses to delete a static client with one clear line, and it keeps working', async () => {
    const before = await client.clientCredentialsGrant(introspector);
    expectRefusal(await cli(['client', 'delete', 'service']), 64, /^gatehouse: service is a static client: change it in config\.yaml$/);
    expect(await active(before.access_token)).toBe(true);
  });
});
