/**
 * Single use under concurrency: oidc-provider checks `consumed` and then calls
 * `consume()`, so the adapter's conditional UPDATE is what makes a code or a
 * refresh token usable exactly once when requests race. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

describe.each(databaseKinds)('single use under concurrency on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [web, testClients.service] });
    await server.gh.users.createLocal({ email: 'linus@example.com', password: 'just-for-fun-91' }, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const login = () => obtainCode(server.url, { clientId: 'web', redirectUri, email: 'linus@example.com', password: 'just-for-fun-91' });
  const introspect = async (token: string) => {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`service:${testClients.service.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    return ((await res.json()) as { active: boolean }).active;
  };

  it('gives exactly one of 50 parallel exchanges of one code its tokens, and revokes them afterwards', async () => {
    const { code, verifier } = await login();
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
      ),
    );
    const winners = results.filter((r) => r.status === 200);
    const losers = results.filter((r) => r.status === 400 && r.body.error === 'invalid_grant');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(49);
    const won = winners[0]!.body as { access_token: string; refresh_token: string };
    // RFC 6749 §4.1.2: a code used twice revokes what was issued with it.
    expect(await introspect(won.access_token)).toBe(false);
    const refresh = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: won.refresh_token });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('gives exactly one of 20 parallel refreshes of one refresh token a new token pair', async () => {
    const { code, verifier } = await login();
    const tokens = (await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })).body;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(19);
  });
});
