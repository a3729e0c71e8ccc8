/**
 * The admin API with an admin's access token, got by a real relying party
 * (openid-client: authorization code + PKCE) on SQLite and PostgreSQL. A
 * static client whose `scope` metadata names `gatehouse:admin` gets it for an
 * admin (`admins:`, verified e-mail, active): reads answer 200, writes are
 * audited as `admin:<email>`. Refused: a non-admin (403), a token without
 * the scope, through a client not allowed it or through a registered client
 * whose own metadata names it (401), an expired token (the
 * injected clock moved past ttl.accessToken: 401), a disabled admin (their
 * tokens end: 401; an account found disabled: 403), an admin taken out of
 * `admins:` (the server restarted on the same database: 403), cookies
 * without a bearer (401). The per-caller rate limit answers 429 with
 * Retry-After and frees up when the clock moves on.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode } from '../helpers/http-login.ts';
import { register } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const password = 'a long admin password';
const hour = 3_600_000;

/** A clock that stands still until the test moves it; the server reads it. */
function movableClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** Allowed `gatehouse:admin` by its `scope` metadata. */
const tools = {
  client_id: 'tools',
  client_secret: 'tools-secret-0123456789',
  client_name: 'Admin tools',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  scope: 'openid email gatehouse:admin',
};
/** No `scope` metadata: oidc-provider lets it ask for any scope it knows, gatehouse:admin included. */
const { scope: _scope, ...unscoped } = tools;
const plain = { ...unscoped, client_id: 'plain', client_secret: 'plain-secret-0123456789', client_name: 'Plain app' };

const admins = ['root@example.com', 'gone@example.com', 'off@example.com', 'late@example.com', 'busy@example.com'];

describe.each(databaseKinds)('admin API with access tokens on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  const clock = movableClock();
  const raw = (adminList: string[]) => ({
    admins: adminList,
    clients: [tools, plain],
    security: { rateLimits: { admin: { max: 3, window: '1m' } } },
    registration: { enabled: true, policies: { consentRequired: false } },
  });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, raw(admins), { clock });
    for (const email of [...admins, 'pat@example.com']) await server.gh.users.createLocal({ email, password }, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** Signs in as `email` through `rp` (openid-client) with code + PKCE; returns the token response. */
  async function accessToken(email: string, rp: { client_id: string; client_secret: string } = tools, scope = 'openid email gatehouse:admin') {
    const config = await client.discovery(new URL(server.url), rp.client_id, rp.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    const state = client.randomState();
    const nonce = client.randomNonce();
    const signedIn = await obtainCode(server.url, {
      clientId: rp.client_id,
      redirectUri,
      email,
      password,
      scope,
      extra: { state, nonce },
    });
    return client.authorizationCodeGrant(config, new URL(signedIn.callbackUrl), {
      pkceCodeVerifier: signedIn.verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
  }

  const call = async (method: string, path: string, token: string | null, init: { body?: unknown; cookie?: string } = {}) => {
    const response = await fetch(`${server.url}/admin/api${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.cookie ? { cookie: init.cookie } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  it('lets an admin read and write with a gatehouse:admin token, audited as admin:<email>', async () => {
    const tokens = await accessToken('root@example.com');
    expect(tokens.scope?.split(' ')).toContain('gatehouse:admin');
    const listed = await call('GET', '/users', tokens.access_token);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((u: { email: string }) => u.email)).toContain('root@example.com');
    const made = await call('POST', '/users', tokens.access_token, { body: { email: 'made-by-root@example.com' } });
    expect(made.status).toBe(201);
    const audit = await server.gh.db('audit_log').where({ action: 'user.created', subject: made.body.id }).first();
    expect(audit.actor).toBe('admin:root@example.com');
  });

  it('refuses a non-admin with the scope (403) and an admin without it (401)', async () => {
    const pat = await accessToken('pat@example.com');
    expect(pat.scope?.split(' ')).toContain('gatehouse:admin');
    expect((await call('GET', '/users', pat.access_token)).status).toBe(403);
    const unscoped = await accessToken('root@example.com', tools, 'openid email');
    const answer = await call('GET', '/users', unscoped.access_token);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses the scope through a client not allowed it (401)', async () => {
    const tokens = await accessToken('root@example.com', plain);
    expect(tokens.scope?.split(' ')).toContain('gatehouse:admin');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(401);
  });

  it('refuses the scope through a registered client, even one whose own metadata names it (401)', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: clock.now() + hour }, 'test');
    const made = await register(
      server.url,
      { client_name: 'Registered tool', redirect_uris: [redirectUri], grant_types: ['authorization_code'], scope: 'openid email gatehouse:admin' },
      token,
    );
    expect(made.status).toBe(201);
    const rp = { client_id: String(made.body.client_id), client_secret: String(made.body.client_secret) };
    const tokens = await accessToken('root@example.com', rp);
    expect(tokens.scope?.split(' ')).toContain('gatehouse:admin');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(401);
  });

  it('refuses a token once it has expired (the clock moved past ttl.accessToken)', async () => {
    const tokens = await accessToken('late@example.com');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(200);
    clock.advance(hour + 1000);
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(401);
  });

  it('refuses cookies without a bearer, even those of a signed-in admin (401)', async () => {
    const browser = new Browserless();
    await obtainCode(server.url, { clientId: 'tools', redirectUri, email: 'root@example.com', password, scope: 'openid', browser });
    const cookie = browser.jar.header(`${server.url}/admin/api/users`);
    expect(cookie).not.toBe('');
    expect((await call('GET', '/users', null, { cookie })).status).toBe(401);
  });

  it('limits calls per caller: the 4th within a minute is 429 with Retry-After, and the clock moving on frees it', async () => {
    const tokens = await accessToken('busy@example.com');
    for (let n = 0; n < 3; n += 1) expect((await call('GET', '/users', tokens.access_token)).status).toBe(200);
    const limited = await call('GET', '/users', tokens.access_token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another caller is not held up by this one.
    expect((await call('GET', '/users', (await accessToken('root@example.com')).access_token)).status).toBe(200);
    clock.advance(60_000 + 1000);
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(200);
  });

  it('refuses a disabled admin: their tokens end (401), and an account found disabled is refused (403)', async () => {
    const tokens = await accessToken('off@example.com');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(200);
    const user = (await server.gh.users.list()).find((u) => u.email === 'off@example.com')!;
    await server.gh.users.setStatus(user.id, 'disabled', 'test');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(401);
    // Were a token to outlive the disabling (another instance, a race), the check at every call still refuses it.
    await server.gh.users.setStatus(user.id, 'active', 'test');
    const again = await accessToken('off@example.com');
    await server.gh.db('user').where({ id: user.id }).update({ status: 'disabled' });
    expect((await call('GET', '/users', again.access_token)).status).toBe(403);
  });

  it('refuses an admin taken out of admins: once the server restarts with that config (403)', async () => {
    const tokens = await accessToken('gone@example.com');
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(200);
    const port = server.port;
    await server.stopForRestart();
    server = await startTestServer(db, raw(admins.filter((a) => a !== 'gone@example.com')), { clock, port });
    expect((await call('GET', '/users', tokens.access_token)).status).toBe(403);
    expect((await call('GET', '/users', (await accessToken('root@example.com')).access_token)).status).toBe(200);
  });
});
