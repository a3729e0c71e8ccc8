/**
 * The token side of the protocol with a real client library (openid-client):
 * client credentials, refresh rotation (a reused refresh token is refused and
 * ends the grant), introspection, revocation, disabled users. On SQLite and
 * PostgreSQL.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

describe.each(databaseKinds)('tokens on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let service: client.Configuration;
  let userId: string;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [web, testClients.service] });
    userId = (await server.gh.users.createLocal({ email: 'grace@example.com', password: 'cobol-rules-1959' }, 'test')).id;
    service = await client.discovery(new URL(server.url), 'service', testClients.service.client_secret, undefined, { execute: [client.allowInsecureRequests] });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const login = () => obtainCode(server.url, { clientId: 'web', redirectUri, email: 'grace@example.com', password: 'cobol-rules-1959' });
  const exchange = async () => {
    const { code, verifier } = await login();
    const res = await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(res.status).toBe(200);
    return res.body as { access_token: string; refresh_token: string; id_token: string };
  };
  const introspect = async (token: string) => (await client.tokenIntrospection(service, token)).active;

  it('issues an opaque access token for client credentials and introspects it as active', async () => {
    const tokens = await client.clientCredentialsGrant(service, { scope: '' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token.split('.').length).toBe(1);
    expect(await introspect(tokens.access_token)).toBe(true);
  });

  it('refuses client credentials with a wrong secret', async () => {
    const res = await tokenRequest(server.url, { client_id: 'service', client_secret: 'wrong' }, { grant_type: 'client_credentials' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('refuses a code exchange without the PKCE verifier', async () => {
    const { code } = await login();
    const res = await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('rotates refresh tokens and refuses a reused one, ending the grant', async () => {
    const first = await exchange();
    const second = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    const reuse = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    // Reuse is treated as theft: the rotated token dies too.
    const after = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(second.body.refresh_token) });
    expect(after.body.error).toBe('invalid_grant');
  });

  it('revokes an access token so that introspection reports it inactive', async () => {
    const tokens = await exchange();
    expect(await introspect(tokens.access_token)).toBe(true);
    await client.tokenRevocation(
      await client.discovery(new URL(server.url), 'web', web.client_secret, undefined, { execute: [client.allowInsecureRequests] }),
      tokens.access_token,
    );
    expect(await introspect(tokens.access_token)).toBe(false);
  });

  it('serves userinfo for a user access token and ends everything when the user is disabled', async () => {
    const tokens = await exchange();
    const info = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await info.json()).toMatchObject({ sub: userId, email: 'grace@example.com' });
    await server.gh.users.setStatus(userId, 'disabled', 'test');
    expect(await introspect(tokens.access_token)).toBe(false);
    const refresh = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refresh.body.error).toBe('invalid_grant');
    await server.gh.users.setStatus(userId, 'active', 'test');
  });

  it('refuses a disabled user at the login page', async () => {
    await server.gh.users.setStatus(userId, 'disabled', 'test');
    await expect(login()).rejects.toThrow(/unexpected 403/);
    await server.gh.users.setStatus(userId, 'active', 'test');
  });
});
