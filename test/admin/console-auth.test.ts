/**
 * The admin console's sign-in and sessions over HTTP, on SQLite and
 * PostgreSQL: an admin signs in through /admin/login, Gatehouse's login page
 * and /admin/callback and lands where they wanted to go; a non-admin, or an
 * admin whose e-mail is unverified, gets a 403 and no session; with gating on
 * the admin needs no invitation; sessions idle out and age out on the
 * injected clock; sign-out ends them; a replayed code, a wrong PKCE verifier
 * or state are refused; the session id is stored hashed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { consoleClientId, consoleRedirectUri, consoleScope } from '../../src/oidc/console-client.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const password = 'correct horse battery staple';
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

describe.each(databaseKinds)('admin console sign-in on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  /** Moves Gatehouse's clock (session idle and age) without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let issuer: string;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(
      db,
      {
        connectors: [{ id: 'local', type: 'local', name: 'Email' }],
        clients: [{ ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] }],
        admins: ['root@example.com', 'Unverified@example.com', 'later@example.com'],
        adminConsole: { idleTimeout: '10m', maxAge: '1h' },
        // Gating on, manual: nobody has an invitation, admins included.
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      },
      { clock },
    );
    issuer = server.url;
    for (const email of ['root@example.com', 'someone@example.com', 'unverified@example.com', 'later@example.com']) {
      await server.gh.users.createLocal({ email, password }, 'test');
    }
    // Signs in with a verified local account, but the user's own e-mail is not verified.
    await server.gh.db('user').where({ email: 'unverified@example.com' }).update({ email_verified: false });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const sessionCookieOf = (browser: Browserless) => /(?:^|; )gh\.admin=([^;]+)/.exec(browser.jar.header(`${issuer}/admin`))?.[1];
  const sessionsOf = async (email: string) => {
    const user = await server.gh.db('user').where({ email }).first();
    return server.gh.db('admin_session').where({ user_id: user.id });
  };

  /**
   * From `start` through Gatehouse's pages (signing in with the password when
   * asked) to the console's callback, which is not requested yet: its URL.
   */
  async function toCallback(browser: Browserless, email: string, start = `${issuer}/admin/login`): Promise<string> {
    let url = start;
    let response = await browser.request(url);
    for (let hops = 0; hops < 12; hops += 1) {
      if (response.status >= 300 && response.status < 400) {
        url = new URL(response.headers.get('location')!, url).href;
        if (new URL(url).pathname === '/admin/callback') return url;
        response = await browser.request(url);
        continue;
      }
      const html = await response.text();
      expect(response.status, html.slice(0, 300)).toBe(200);
      // Never the gate page nor the consent page: only the password.
      expect(html).toContain('name="password"');
      response = await browser.request(`${url}/login`, { form: { _csrf: csrfOf(html), email, password } });
    }
    throw new Error(`no callback reached from ${start}`);
  }

  async function signIn(email: string, start?: string): Promise<{ browser: Browserless; callback: Response }> {
    const browser = new Browserless();
    const callback = await browser.request(await toCallback(browser, email, start));
    return { browser, callback };
  }

  it('sends a signed-out browser to /admin/login, remembering a console path', async () => {
    const browser = new Browserless();
    const answer = await browser.request(`${issuer}/admin/nowhere?x=1`);
    expect(answer.status).toBe(302);
    expect(answer.headers.get('location')).toBe(`/admin/login?next=${encodeURIComponent('/admin/nowhere?x=1')}`);
    const login = await browser.request(`${issuer}/admin/login?next=${encodeURIComponent('/admin/nowhere?x=1')}`);
    expect(login.status).toBe(302);
    const auth = new URL(login.headers.get('location')!);
    expect(auth.pathname).toBe('/auth');
    expect(auth.searchParams.get('client_id')).toBe(consoleClientId);
    expect(auth.searchParams.get('redirect_uri')).toBe(`${issuer}/admin/callback`);
    expect(auth.searchParams.get('scope')).toBe('openid email profile gatehouse:admin');
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(login.headers.getSetCookie().find((c) => c.startsWith('gh.admin.login='))).toMatch(/httponly/i);
  });

  it('signs an admin in (no invitation needed with gating on) and lands on the page they wanted', async () => {
    const { browser, callback } = await signIn('root@example.com', `${issuer}/admin/login?next=${encodeURIComponent('/admin/nowhere?x=1')}`);
    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe('/admin/nowhere?x=1');
    const cookie = callback.headers.getSetCookie().find((c) => c.startsWith('gh.admin='))!;
    expect(cookie).toMatch(/path=\/admin/i);
    expect(cookie).toMatch(/httponly/i);
    expect(cookie).toMatch(/samesite=lax/i);
    const landed = await browser.request(`${issuer}/admin/nowhere?x=1`);
    const html = await landed.text();
    // No page there: the console's own not-found page, inside the layout, signed in.
    expect(landed.status).toBe(404);
    expect(html).toContain('Signed in as <strong>root@example.com</strong>');
    expect(html).toContain('href="/admin/users"');
    expect(landed.headers.get('cache-control')).toBe('no-store');
    // Nobody was let in through the gate: the console's client needed no access.
    const root = await server.gh.db('user').where({ email: 'root@example.com' }).first();
    expect(await server.gh.gate.hasAccess(root.id, consoleClientId)).toBe(false);
  });

  it('never lands outside the console', async () => {
    for (const next of ['https://evil.example/', '//evil.example/admin', '/admin/\\evil', '/elsewhere', '/admin/api/users', '/admin/logout']) {
      const browser = new Browserless();
      const login = await browser.request(`${issuer}/admin/login?next=${encodeURIComponent(next)}`);
      const state = new URL(login.headers.get('location')!).searchParams.get('state');
      expect(state).toBeTruthy();
      const callback = await browser.request(await toCallback(browser, 'root@example.com', login.headers.get('location')!));
      expect(callback.headers.get('location'), next).toBe('/admin');
    }
  });

  it('gives a non-admin a 403 page and no session', async () => {
    const { browser, callback } = await signIn('someone@example.com');
    expect(callback.status).toBe(403);
    expect(await callback.text()).toContain('This console is for administrators');
    expect(sessionCookieOf(browser)).toBeUndefined();
    expect(await sessionsOf('someone@example.com')).toEqual([]);
    expect((await browser.request(`${issuer}/admin/nowhere`)).status).toBe(302);
  });

  it('gives an admin whose e-mail is unverified a 403 and no session', async () => {
    const { browser, callback } = await signIn('unverified@example.com');
    expect(callback.status).toBe(403);
    expect(await callback.text()).toContain('This console is for administrators');
    expect(sessionCookieOf(browser)).toBeUndefined();
    expect(await sessionsOf('unverified@example.com')).toEqual([]);
  });

  it('ends the session of someone who stops being an admin, at their next request', async () => {
    const { browser, callback } = await signIn('later@example.com');
    expect(callback.status).toBe(302);
    expect((await browser.request(`${issuer}/admin/nowhere`)).status).toBe(404);
    await server.gh.db('user').where({ email: 'later@example.com' }).update({ status: 'disabled' });
    const refused = await browser.request(`${issuer}/admin/nowhere`);
    expect(refused.status).toBe(403);
    expect(await sessionsOf('later@example.com')).toEqual([]);
  });

  it('stores the session id hashed, never in plain text', async () => {
    const { browser } = await signIn('root@example.com');
    const value = sessionCookieOf(browser)!;
    expect(value.length).toBeGreaterThanOrEqual(40);
    const rows = await server.gh.db('admin_session').select('id');
    expect(rows.map((r: { id: string }) => r.id)).toContain(sha256(value));
    expect(rows.map((r: { id: string }) => r.id)).not.toContain(value);
  });

  it('ends a session idle longer than adminConsole.idleTimeout', async () => {
    const { browser } = await signIn('root@example.com');
    skew += 9 * 60_000;
    expect((await browser.request(`${issuer}/admin/nowhere`)).status).toBe(404);
    skew += 9 * 60_000;
    // Nine minutes after the last request: still alive (the last request moved last_seen).
    expect((await browser.request(`${issuer}/admin/nowhere`)).status).toBe(404);
    skew += 10 * 60_000 + 1000;
    const idle = await browser.request(`${issuer}/admin/nowhere`);
    expect(idle.status).toBe(302);
    expect(idle.headers.get('location')).toMatch(/^\/admin\/login/);
    expect(sessionCookieOf(browser)).toBeUndefined();
    // Signing in again (Gatehouse's own session and the console's grant may still be there): a new session.
    const again = await browser.request(await toCallback(browser, 'root@example.com', new URL(idle.headers.get('location')!, issuer).href));
    expect(again.status).toBe(302);
    expect(again.headers.get('location')).toBe('/admin/nowhere');
    expect((await browser.request(`${issuer}/admin/nowhere`)).status).toBe(404);
  });

  it('ends a session older than adminConsole.maxAge however busy', async () => {
    const { browser } = await signIn('root@example.com');
    for (let minutes = 0; minutes < 54; minutes += 9) {
      skew += 9 * 60_000;
      expect((await browser.request(`${issuer}/admin/nowhere`)).status, `after ${minutes + 9} minutes`).toBe(404);
    }
    skew += 6 * 60_000 + 1000;
    const old = await browser.request(`${issuer}/admin/nowhere`);
    expect(old.status).toBe(302);
    expect(old.headers.get('location')).toMatch(/^\/admin\/login/);
  });

  it('signs out with POST /admin/logout (CSRF checked): the old cookie no longer works', async () => {
    const { browser } = await signIn('root@example.com');
    const html = await (await browser.request(`${issuer}/admin/nowhere`)).text();
    const csrf = csrfOf(html);
    expect(csrf).not.toBe('');
    expect(html).toContain('action="/admin/logout"');
    const cookieHeader = browser.jar.header(`${issuer}/admin/nowhere`);
    const withoutToken = await browser.request(`${issuer}/admin/logout`, { form: { other: 'x' } });
    expect(withoutToken.status).toBe(403);
    expect(sessionCookieOf(browser)).toBeDefined();
    const out = await browser.request(`${issuer}/admin/logout`, { form: { _csrf: csrf } });
    expect(out.status).toBe(303);
    const end = new URL(out.headers.get('location')!, issuer);
    expect(end.pathname).toBe('/session/end');
    expect(end.searchParams.get('client_id')).toBe(consoleClientId);
    expect(sessionCookieOf(browser)).toBeUndefined();
    const replayed = await fetch(`${issuer}/admin/nowhere`, { headers: { cookie: cookieHeader }, redirect: 'manual' });
    expect(replayed.status).toBe(302);
    expect(replayed.headers.get('location')).toMatch(/^\/admin\/login/);
    // oidc-provider's sign-out page follows.
    expect((await browser.request(end.href)).status).toBe(200);
  });

  it('refuses a replayed authorization code', async () => {
    const browser = new Browserless();
    const callbackUrl = await toCallback(browser, 'root@example.com');
    expect((await browser.request(callbackUrl)).status).toBe(302);
    const before = (await sessionsOf('root@example.com')).length;
    // A new sign-in in the same browser (a fresh state), answered with the old code.
    const login = await browser.request(`${issuer}/admin/login?switch=1`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const replay = new URL(callbackUrl);
    replay.searchParams.set('state', state);
    const refused = await browser.request(replay.href);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('already used');
    expect((await sessionsOf('root@example.com')).length).toBe(before);
  });

  it('refuses a code made for another PKCE challenge, and a wrong or missing state', async () => {
    const browser = new Browserless();
    // The browser starts a console sign-in (its verifier is in its cookie)…
    const login = await browser.request(`${issuer}/admin/login`);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    // …but the code that comes back was asked for with someone else's challenge.
    const { challenge } = pkcePair();
    const auth = new URL(`${issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: consoleClientId,
      response_type: 'code',
      redirect_uri: consoleRedirectUri(issuer),
      scope: consoleScope,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const foreign = new URL(await toCallback(browser, 'root@example.com', auth.href));
    const refused = await browser.request(foreign.href);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('does not belong to this sign-in');
    expect(sessionCookieOf(browser)).toBeUndefined();

    // A state that is not this browser's.
    const other = new Browserless();
    const callbackUrl = new URL(await toCallback(other, 'root@example.com'));
    callbackUrl.searchParams.set('state', randomBytes(16).toString('base64url'));
    expect((await other.request(callbackUrl.href)).status).toBe(400);
    expect(sessionCookieOf(other)).toBeUndefined();
    // No sign-in started in this browser at all.
    expect((await new Browserless().request(callbackUrl.href)).status).toBe(400);
  });

  it('serves its script with a JavaScript content type and its stylesheet as CSS, signed out', async () => {
    const script = await fetch(`${issuer}/admin/static/admin.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^(application|text)\/javascript/);
    expect(await script.text()).toContain('data-copy');
    const css = await fetch(`${issuer}/admin/static/admin.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('keeps the console client out of the configured clients and the admin API answering JSON', async () => {
    expect(server.config.clients.map((c) => c.client_id)).not.toContain(consoleClientId);
    const api = await fetch(`${issuer}/admin/api/users`, { headers: { accept: 'application/json' }, redirect: 'manual' });
    expect(api.status).toBe(401);
  });
});
