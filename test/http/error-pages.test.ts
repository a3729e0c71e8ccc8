/**
 * Every page a person can reach is Gatehouse's own: protocol errors in plain
 * words with the OAuth code in small print and the right status, unknown paths
 * a branded 404 (HTML for browsers, JSON for API callers) on both issuers; the
 * JSON answers of the protocol endpoints stay oidc-provider's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const realmName = 'demo';
const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const other = { ...testClients.web, client_id: 'other', client_name: 'Other App', redirect_uris: [redirectUri] };
const html = { accept: 'text/html,application/xhtml+xml' };

describe('error pages', () => {
  let db: TestDatabase;
  let server: TestServer;
  let issuers: string[];

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {
      clients: [web, other],
      compat: { keycloak: { realm: realmName } },
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
    });
    issuers = [server.url, `${server.url}/realms/${realmName}`];
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const authorize = (issuer: string, params: Record<string, string>) =>
    `${issuer}${issuer === server.url ? '/auth' : '/protocol/openid-connect/auth'}?${new URLSearchParams({ response_type: 'code', scope: 'openid', ...params })}`;

  function expectOurPage(body: string, title: string): void {
    expect(body).toContain('<html lang="en">');
    expect(body).toContain(`<title>${title} · Gatehouse</title>`);
    expect(body).toContain('Secured by Gatehouse');
  }

  it('answers an unknown path on either issuer with a branded 404 page for browsers and JSON for API callers', async () => {
    for (const issuer of issuers) {
      for (const path of ['/no-such-page', '/interaction/unknown/nothing', '/static/nothing.css']) {
        const page = await fetch(`${issuer}${path}`, { headers: html });
        expect(page.status, `${issuer}${path}`).toBe(404);
        expect(page.headers.get('content-type')).toContain('text/html');
        const body = await page.text();
        expectOurPage(body, 'Page not found');
        expect(body).toContain('There is no page at this address');

        const api = await fetch(`${issuer}${path}`, { headers: { accept: 'application/json' } });
        expect(api.status).toBe(404);
        expect(await api.json()).toMatchObject({ error: 'not_found' });
      }
    }
  });

  it('shows an unknown client in plain words with the code in small print, not the library text', async () => {
    for (const issuer of issuers) {
      const res = await fetch(authorize(issuer, { client_id: 'no-such-app', redirect_uri: 'http://127.0.0.1:9/cb' }), { headers: html });
      expect(res.status).toBe(400);
      const body = await res.text();
      expectOurPage(body, 'Unknown application');
      expect(body).toContain('The application that sent you here is not known here');
      expect(body).toContain('<code>invalid_client</code>');
      expect(body).not.toContain('client is invalid');
    }
  });

  it('shows a redirect_uri that is not registered in plain words, not the library text', async () => {
    const res = await fetch(authorize(server.url, { client_id: 'web', redirect_uri: 'http://evil.example/cb' }), { headers: html });
    expect(res.status).toBe(400);
    const body = await res.text();
    expectOurPage(body, 'The application sent you from the wrong address');
    expect(body).toContain('<code>invalid_redirect_uri</code>');
    expect(body).not.toContain('did not match');
  });

  it("keeps oidc-provider's JSON errors at the token and userinfo endpoints, for callers that do not ask for HTML", async () => {
    const userinfo = await fetch(`${server.url}/me`, { headers: { accept: 'application/json', authorization: 'Bearer not-a-token' } });
    expect(userinfo.status).toBe(401);
    expect(await userinfo.json()).toMatchObject({ error: 'invalid_token' });
    const token = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'no-such-app', client_secret: 'x' }),
    });
    expect(token.status).toBe(401);
    expect(token.headers.get('content-type')).toContain('application/json');
    expect(await token.json()).toMatchObject({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('names a request body the parser refused input.invalid, with the status the parser gave it', async () => {
    const res = await fetch(`${server.url}/interaction/some-uid/login`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: `email=${'a'.repeat(70 * 1024)}`,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'input.invalid' });
  });

  it('says a sign-in has expired only when it has: a missing one is 400, an unreadable stored one is our 500', async () => {
    const browser = new Browserless();
    const started = await browser.follow(
      authorize(server.url, { client_id: 'web', redirect_uri: redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }),
      server.url,
    );
    expect(started.response.status).toBe(200);
    const elsewhere = await fetch(started.url, { headers: html });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toContain('opened in another browser');
    // A stored interaction that cannot be read is a fault on our side, not a reason to send the person back to the start.
    await server.gh.db('oidc_model').where({ kind: 'Interaction' }).update({ payload: '{not json' });
    const broken = await browser.request(started.url);
    expect(broken.status).toBe(500);
    const body = await broken.text();
    expect(body).toContain('Something went wrong on our side');
    expect(body).not.toContain('has expired');
  });

  it("answers a refused invitation at the access prompt with the status table's status for its reason (revoked: 410)", async () => {
    await server.gh.users.createLocal({ email: 'known@example.com', password: 'known-password-1' }, 'test');
    const { token: forOther } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['other'] }, 'test');
    const browser = new Browserless();
    await obtainCode(server.url, {
      clientId: 'other',
      redirectUri,
      email: 'known@example.com',
      password: 'known-password-1',
      extra: { acl_token: forOther },
      browser,
    });
    const { row, token: forWeb } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    await server.gh.aclTokens.revoke(row.id, 'test');
    const step = await browser.follow(
      authorize(server.url, { client_id: 'web', redirect_uri: redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', acl_token: forWeb }),
      server.url,
    );
    expect(step.response.status).toBe(410);
    expect(await step.response.text()).toContain('No access to Web App');
  });
});
