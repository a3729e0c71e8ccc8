/**
 * Keycloak compatibility (`compat.keycloak.realm`): the realm's discovery and
 * endpoints at Keycloak's paths with the realm issuer, a sign-in through the
 * realm with a real client library, and the Client Registration Service in
 * both of Keycloak's shapes (the request shapes of Keycloak's "Client
 * Registration" docs: `default` with the client representation, and
 * `openid-connect`), with counted registration tokens. SQLite and PostgreSQL.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { fromKeycloak, toKeycloak } from '../../src/oidc/keycloak.ts';

const realmName = 'master';
const redirectUri = 'http://127.0.0.1:9/cb';

describe('Keycloak client representation defaults', () => {
  it('makes { clientId } alone a confidential standard-flow client, as Keycloak does', () => {
    const metadata = fromKeycloak({ clientId: 'myclient' });
    // The code grant waits for a redirect URI (oidc-provider cannot store it without one); refresh stays.
    expect(metadata).toMatchObject({
      grant_types: ['refresh_token'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(toKeycloak({ ...metadata, client_id: 'myclient', client_secret: 's' }, true)).toMatchObject({
      standardFlowEnabled: true,
      publicClient: false,
      secret: 's',
    });
  });

  it('turns the code grant on with redirect URIs, and leaves it off only when standardFlowEnabled is false', () => {
    expect(fromKeycloak({ clientId: 'a', redirectUris: ['https://app.example/cb'] })).toMatchObject({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });
    expect(fromKeycloak({ clientId: 'b', standardFlowEnabled: false, serviceAccountsEnabled: true })).toMatchObject({
      grant_types: ['client_credentials'],
      response_types: [],
    });
    expect(toKeycloak({ client_id: 'b', grant_types: ['client_credentials'], redirect_uris: [] }, true)).toMatchObject({
      standardFlowEnabled: false,
      serviceAccountsEnabled: true,
    });
    const device = fromKeycloak({
      clientId: 'tv',
      standardFlowEnabled: false,
      publicClient: true,
      attributes: { 'oauth2.device.authorization.grant.enabled': 'true' },
    });
    expect(device).toMatchObject({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none' });
  });

  it('keeps webOrigins as the client metadata web_origins, and gives them back', () => {
    const metadata = fromKeycloak({ clientId: 'spa', publicClient: true, redirectUris: ['https://app.example/'], webOrigins: ['+', 'https://other.example'] });
    expect(metadata.web_origins).toEqual(['+', 'https://other.example']);
    expect(fromKeycloak({ clientId: 'none' }).web_origins).toBeUndefined();
    expect(toKeycloak({ ...metadata, client_id: 'spa' }, true).webOrigins).toEqual(['+', 'https://other.example']);
  });
});

describe.each(databaseKinds)('Keycloak compatibility on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let realm: string;
  let registrationToken: string;
  let registrationTokenId: string;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, {
      clients: [testClients.service],
      registration: { enabled: true, initialAccessToken: 'required', policies: { consentRequired: false } },
      compat: { keycloak: { realm: realmName } },
    });
    realm = `${server.url}/realms/${realmName}`;
    await server.gh.users.createLocal({ email: 'ada@example.com', password: 'analytical-engine-1843' }, 'test');
    const made = await server.gh.registrationTokens.create({ count: 5, expiresAt: Date.now() + 3_600_000 }, 'test');
    registrationToken = made.token;
    registrationTokenId = made.row.id;
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const keycloakRequest = (path: string, init: { method?: string; token?: string; body?: unknown } = {}) =>
    fetch(`${realm}/clients-registrations/${path}`, {
      method: init.method ?? (init.body ? 'POST' : 'GET'),
      // Keycloak's docs write the scheme in lower case.
      headers: { 'Content-Type': 'application/json', ...(init.token ? { Authorization: `bearer ${init.token}` } : {}) },
      body: init.body === undefined ? null : JSON.stringify(init.body),
    });

  it('serves the realm discovery with the realm issuer and Keycloak endpoint paths', async () => {
    const res = await fetch(`${realm}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const meta = (await res.json()) as Record<string, string>;
    expect(meta.issuer).toBe(realm);
    expect(meta.authorization_endpoint).toBe(`${realm}/protocol/openid-connect/auth`);
    expect(meta.token_endpoint).toBe(`${realm}/protocol/openid-connect/token`);
    expect(meta.device_authorization_endpoint).toBe(`${realm}/protocol/openid-connect/auth/device`);
    expect(meta.jwks_uri).toBe(`${realm}/protocol/openid-connect/certs`);
    expect(meta.userinfo_endpoint).toBe(`${realm}/protocol/openid-connect/userinfo`);
    expect(meta.end_session_endpoint).toBe(`${realm}/protocol/openid-connect/logout`);
    expect(meta.introspection_endpoint).toBe(`${realm}/protocol/openid-connect/token/introspect`);
    expect(meta.registration_endpoint).toBe(`${realm}/clients-registrations/openid-connect`);
    const certs = (await (await fetch(meta.jwks_uri!)).json()) as { keys: { kid: string }[] };
    const main = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(certs.keys.map((k) => k.kid).sort()).toEqual(main.keys.map((k) => k.kid).sort());
  });

  it('registers with the Keycloak representation exactly as in the docs, and the client gets tokens from the realm', async () => {
    // curl -X POST -d '{ "clientId": "myclient" }' -H "Content-Type:application/json" -H "Authorization: bearer ..." .../clients-registrations/default
    const plain = await keycloakRequest('default', { token: registrationToken, body: { clientId: 'myclient' } });
    expect(plain.status).toBe(201);
    const rep = (await plain.json()) as Record<string, unknown>;
    expect(rep).toMatchObject({
      clientId: 'myclient',
      id: 'myclient',
      enabled: true,
      protocol: 'openid-connect',
      publicClient: false,
      standardFlowEnabled: true,
    });
    expect(typeof rep.secret).toBe('string');
    expect(typeof rep.registrationAccessToken).toBe('string');
    // Keycloak's next step: the client's redirect URIs, in an update of the same representation; the code grant is on.
    const updated = await keycloakRequest('default/myclient', {
      method: 'PUT',
      token: String(rep.registrationAccessToken),
      body: { ...rep, redirectUris: [redirectUri] },
    });
    expect(updated.status, await updated.clone().text()).toBe(200);
    expect(await updated.json()).toMatchObject({ standardFlowEnabled: true, redirectUris: [redirectUri], publicClient: false });
    expect((await server.gh.clients.find('myclient'))?.grantTypes).toEqual(['authorization_code', 'refresh_token']);

    const service = await keycloakRequest('default', {
      token: registrationToken,
      body: { clientId: 'kc-service', name: 'KC service', serviceAccountsEnabled: true },
    });
    expect(service.status).toBe(201);
    const serviceRep = (await service.json()) as { clientId: string; secret: string; serviceAccountsEnabled: boolean };
    expect(serviceRep.serviceAccountsEnabled).toBe(true);

    const config = await client.discovery(new URL(realm), serviceRep.clientId, serviceRep.secret, undefined, { execute: [client.allowInsecureRequests] });
    const tokens = await client.clientCredentialsGrant(config);
    const introspection = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspection.active).toBe(true);
    expect(introspection.client_id).toBe('kc-service');
  });

  it('refuses a client id that is taken, and counts Keycloak registrations against the token', async () => {
    const again = await keycloakRequest('default', { token: registrationToken, body: { clientId: 'myclient' } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error_description: string }).error_description).toContain('already in use');
    const row = await server.gh.registrationTokens.get(registrationTokenId);
    expect(row.uses).toBe(2);
  });

  it('reads, updates and deletes with the registration access token, rotating it on every read and update', async () => {
    const created = await keycloakRequest('default', { token: registrationToken, body: { clientId: 'kc-web', name: 'KC web', redirectUris: [redirectUri] } });
    expect(created.status).toBe(201);
    const first = (await created.json()) as { registrationAccessToken: string; secret: string };

    const read = await keycloakRequest('default/kc-web', { token: first.registrationAccessToken });
    expect(read.status).toBe(200);
    const readRep = (await read.json()) as { registrationAccessToken: string; redirectUris: string[]; standardFlowEnabled: boolean };
    expect(readRep.redirectUris).toEqual([redirectUri]);
    expect(readRep.standardFlowEnabled).toBe(true);
    expect(readRep.registrationAccessToken).not.toBe(first.registrationAccessToken);
    expect((await keycloakRequest('default/kc-web', { token: first.registrationAccessToken })).status).toBe(401);

    const updated = await keycloakRequest('default/kc-web', {
      method: 'PUT',
      token: readRep.registrationAccessToken,
      body: { clientId: 'kc-web', name: 'KC web renamed', redirectUris: [redirectUri, 'http://127.0.0.1:9/other'], secret: first.secret },
    });
    expect(updated.status).toBe(200);
    const updatedRep = (await updated.json()) as { name: string; redirectUris: string[]; registrationAccessToken: string };
    expect(updatedRep.name).toBe('KC web renamed');
    expect(updatedRep.redirectUris).toHaveLength(2);
    expect(updatedRep.registrationAccessToken).not.toBe(readRep.registrationAccessToken);

    const removed = await keycloakRequest('default/kc-web', { method: 'DELETE', token: updatedRep.registrationAccessToken });
    expect(removed.status).toBe(204);
    expect(await server.gh.clients.find('kc-web')).toBeUndefined();
    expect(await server.gh.registrar.findRecord('kc-web')).toBeUndefined();
  });

  it('serves OpenID Connect registration at clients-registrations/openid-connect, refused once the token is used up', async () => {
    const register = () =>
      keycloakRequest('openid-connect', {
        token: registrationToken,
        body: { client_name: 'OIDC shape', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
      });
    const ok = await register();
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as { client_id: string; registration_client_uri: string; registration_access_token: string };
    expect(body.registration_client_uri).toBe(`${realm}/clients-registrations/openid-connect/${body.client_id}`);
    const read = await fetch(body.registration_client_uri, { headers: { Authorization: `Bearer ${body.registration_access_token}` } });
    expect(read.status).toBe(200);

    // 5 uses: myclient, kc-service, kc-web, this one ... and one more (the short shape a device agent sends); then refused.
    const short = await keycloakRequest('openid-connect', { token: registrationToken, body: { client_name: 'device', grant_types: ['client_credentials'] } });
    expect(short.status, await short.clone().text()).toBe(201);
    expect(await short.json()).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    const refused = await register();
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token', error_description: expect.stringContaining('used up') });
  });

  it('lets only the web origins realm clients registered frame the session iframe', async () => {
    const page = `${realm}/protocol/openid-connect/login-status-iframe.html`;
    const ancestors = async () => /frame-ancestors ([^;]*)/.exec((await fetch(page)).headers.get('content-security-policy') ?? '')?.[1];
    expect(await ancestors()).toBe("'none'");
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 60_000 }, 'test');
    const made = await keycloakRequest('default', {
      token,
      body: { clientId: 'kc-framed', publicClient: true, redirectUris: ['http://127.0.0.1:7/app'], webOrigins: ['+'] },
    });
    expect(made.status).toBe(201);
    expect(await ancestors()).toBe('http://127.0.0.1:7');
    expect((await fetch(page)).headers.get('x-frame-options')).toBeNull();
    const init = (origin: string) => fetch(`${page}/init?${new URLSearchParams({ client_id: 'kc-framed', origin })}`);
    expect((await init('http://127.0.0.1:7')).status).toBe(204);
    expect((await init('http://127.0.0.1:6')).status).toBe(403);
  });

  it('signs a person in through the realm: the ID token carries the realm issuer', async () => {
    const made = await keycloakRequest('default', {
      token: (await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 60_000 }, 'test')).token,
      body: { clientId: 'kc-login', redirectUris: [redirectUri] },
    });
    expect(made.status).toBe(201);
    const rep = (await made.json()) as { secret: string };
    const config = await client.discovery(new URL(realm), 'kc-login', rep.secret, undefined, { execute: [client.allowInsecureRequests] });
    const { callbackUrl, verifier } = await obtainCode(realm, {
      clientId: 'kc-login',
      redirectUri,
      email: 'ada@example.com',
      password: 'analytical-engine-1843',
      scope: 'openid email',
      authorizationEndpoint: config.serverMetadata().authorization_endpoint!,
      extra: { nonce: 'realm-nonce-1' },
    });
    const callback = new URL(callbackUrl);
    expect(callback.searchParams.get('iss')).toBe(realm);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
      expectedNonce: 'realm-nonce-1',
    });
    expect(tokens.claims()?.iss).toBe(realm);
    const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(info.email).toBe('ada@example.com');
  });
});
