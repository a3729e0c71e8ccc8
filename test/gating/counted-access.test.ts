/**
 * The counted and re-checked parts of gating, over HTTP, on SQLite and
 * PostgreSQL: exactly max_users first logins win a token under concurrency;
 * access is checked at every authorization and refresh, so revoking an
 * invitation locks its users out; a token for one client opens no other.
 * Lifetimes are crossed by moving the injected clock, never by waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const other = { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: [redirectUri] };

describe.each(databaseKinds)('counted and re-checked access on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let n = 0;
  /** Moves Gatehouse's clock (client token expiry) without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(
      db,
      {
        clients: [web, other],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        security: { maxLoginFailures: 100, loginWindow: '15m', passwordHashQueue: 200 },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  async function newcomers(count: number): Promise<{ email: string; password: string }[]> {
    const password = 'same-password-for-all';
    const hash = await server.gh.passwords.hash(password);
    return Promise.all(
      Array.from({ length: count }, async () => {
        n += 1;
        const email = `racer${n}@example.com`;
        await insertLocalAccount(server.gh.db, {
          id: `acct-${kind}-${n}`,
          email,
          name: null,
          password_hash: hash,
          email_verified_at: Date.now(),
          created_at: Date.now(),
        });
        return { email, password };
      }),
    );
  }

  /** Starts a sign-in with the token and posts the password; returns the status and page of the answer. */
  async function firstLogin(who: { email: string; password: string }, token: string, clientId = 'web'): Promise<{ status: number; html: string }> {
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256', acl_token: token })}`;
    const start = await browser.request(auth);
    const interaction = new URL(start.headers.get('location')!, server.url).href;
    const page = await browser.request(interaction);
    const res = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await page.text()), email: who.email, password: who.password } });
    return { status: res.status, html: await res.text() };
  }

  it('lets exactly 5 of 30 concurrent first logins in with a token for 5 people', async () => {
    const { row, token } = await server.gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    const people = await newcomers(30);
    const results = await Promise.all(people.map((who) => firstLogin(who, token)));
    const admitted = results.filter((r) => r.status === 303);
    const usedUp = results.filter((r) => r.status === 409 && r.html.includes('This invitation has been used by the maximum number of people.'));
    expect(admitted).toHaveLength(5);
    expect(usedUp).toHaveLength(25);
    const details = await server.gh.aclTokens.get(row.id);
    expect(details.uses).toBe(5);
    expect(details.users).toHaveLength(5);
    const created = await server.gh.db('user_idp').whereIn(
      'subject',
      people.map((_, i) => `acct-${kind}-${n - 29 + i}`),
    );
    expect(created).toHaveLength(5);
  });

  it('does not let a token for one client into another, and keeps a known user out of a client it has no access to', async () => {
    const [who] = await newcomers(1);
    const { token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['other'] }, 'test');
    const refused = await firstLogin(who!, token, 'web');
    expect(refused.status).toBe(403);
    expect(refused.html).toContain('This invitation does not give access to Web App.');
    // In through "other", then try "web" in the same browser session: the access prompt stops it.
    const browser = new Browserless();
    await obtainCode(server.url, { clientId: 'other', redirectUri, email: who!.email, password: who!.password, extra: { acl_token: token }, browser });
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const step = await browser.follow(auth, server.url);
    expect(step.response.status).toBe(403);
    expect(await step.response.text()).toContain('No access to Web App');
  });

  it('locks the users of a revoked invitation out of the next authorization and the next refresh', async () => {
    const [who] = await newcomers(1);
    const { row, token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    const browser = new Browserless();
    const { code, verifier } = await obtainCode(server.url, {
      clientId: 'web',
      redirectUri,
      email: who!.email,
      password: who!.password,
      extra: { acl_token: token },
      browser,
    });
    const tokens = (await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })).body;
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) });
    expect(refreshed.status).toBe(200);

    await server.gh.aclTokens.revoke(row.id, 'test');
    const refused = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(refreshed.body.refresh_token) });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const step = await browser.follow(auth, server.url);
    expect(step.response.status).toBe(403);
    expect(await step.response.text()).toContain('No access to Web App');
  });

  it('locks users out when the client token behind their invitation expires', async () => {
    const [who] = await newcomers(1);
    // A minute is far longer than the login takes, however busy the machine; then the clock moves past it.
    const { token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'], clientExpiresAt: clock.now() + 60_000 }, 'test');
    const { code, verifier } = await obtainCode(server.url, {
      clientId: 'web',
      redirectUri,
      email: who!.email,
      password: who!.password,
      extra: { acl_token: token },
    });
    const tokens = (await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })).body;
    expect(tokens.refresh_token).toBeTruthy();
    skew += 61_000;
    const refused = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) });
    expect(refused.body.error).toBe('invalid_grant');
  });

  it('writes every gating decision to the audit log and to Prometheus', async () => {
    const actions = (await server.gh.db('audit_log').select('action')).map((r: { action: string }) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['acl_token.created', 'gate.allowed', 'gate.refused', 'acl_token.revoked', 'user.created']));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/gatehouse_gate_decisions_total\{result="allowed",reason="first_login_token"\} [1-9]/);
    expect(metrics).toMatch(/gatehouse_gate_decisions_total\{result="refused",reason="exhausted"\} 2[5-9]/);
    expect(metrics).toMatch(/gatehouse_gate_decisions_total\{result="refused",reason="no_access_refresh"\} [1-9]/);
  });
});
