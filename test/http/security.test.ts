/**
 * The security floor of every page: CSRF on Gatehouse's forms, strict CSP and
 * frame denial, HttpOnly SameSite cookies, no stack traces, 503 (not a pile-up)
 * when password hashing is saturated; and the operations endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';

describe('security floor', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {
      clients: [{ ...testClients.web, redirect_uris: [redirectUri] }],
      security: { maxLoginFailures: 3, loginWindow: '15m', passwordHashConcurrency: 1, passwordHashQueue: 1 },
    });
    await server.gh.users.createLocal({ email: 'alan@example.com', password: 'enigma-machine-1940' }, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  async function openLogin(browser = new Browserless()) {
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const start = await browser.request(auth);
    const interaction = new URL(start.headers.get('location')!, server.url).href;
    const page = await browser.request(interaction);
    return { browser, interaction, page, html: await page.text() };
  }

  it('sends a strict CSP, frame denial and nosniff with the login page', async () => {
    const { page } = await openLogin();
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('sends the security headers with error responses too: a CSRF refusal, an unknown path', async () => {
    const { browser, interaction } = await openLogin();
    const refused = await browser.request(`${interaction}/login`, { form: { email: 'alan@example.com', password: 'enigma-machine-1940' } });
    const unknown = await fetch(`${server.url}/no-such-page`, { headers: { accept: 'text/html' } });
    expect([refused.status, unknown.status]).toEqual([403, 404]);
    for (const res of [refused, unknown]) {
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('sets cookies HttpOnly and SameSite', async () => {
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const start = await browser.request(auth);
    const page = await browser.request(new URL(start.headers.get('location')!, server.url).href);
    const cookies = [...start.headers.getSetCookie(), ...page.headers.getSetCookie()];
    expect(cookies.length).toBeGreaterThan(1);
    for (const cookie of cookies) {
      expect(cookie.toLowerCase()).toContain('httponly');
      expect(cookie.toLowerCase()).toContain('samesite=lax');
    }
  });

  it('refuses a login form posted without the CSRF token, or with another one', async () => {
    const { browser, interaction, html } = await openLogin();
    const missing = await browser.request(`${interaction}/login`, { form: { email: 'alan@example.com', password: 'enigma-machine-1940' } });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain('This form has expired or was not sent from this site');
    const wrong = await browser.request(`${interaction}/login`, {
      form: { _csrf: `${csrfOf(html)}x`, email: 'alan@example.com', password: 'enigma-machine-1940' },
    });
    expect(wrong.status).toBe(403);
    const right = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(html), email: 'alan@example.com', password: 'enigma-machine-1940' } });
    expect(right.status).toBe(303);
  });

  it('throttles an account after repeated wrong passwords, even with the right one', async () => {
    const { browser, interaction, html } = await openLogin();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push(
        (await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(html), email: 'throttle@example.com', password: `wrong-${i}` } })).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401]);
    const blocked = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(html), email: 'throttle@example.com', password: 'anything' } });
    expect(blocked.status).toBe(429);
    expect(await blocked.text()).toContain('Too many failed sign-in attempts');
  });

  it('answers 503 instead of queueing without bound when password hashing is saturated', async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, () => openLogin()));
    const results = await Promise.all(
      sessions.map(({ browser, interaction, html }) =>
        browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(html), email: 'alan@example.com', password: 'enigma-machine-1940' } }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses).toContain(503);
    expect(statuses).toContain(303);
    expect(statuses.every((s) => s === 503 || s === 303)).toBe(true);
    const busy = results.find((r) => r.status === 503)!;
    expect(busy.headers.get('retry-after')).toBeTruthy();
    expect(await busy.text()).toContain('busy');
  });

  it('shows an expired or unknown interaction as a plain 400 page', async () => {
    const res = await fetch(`${server.url}/interaction/does-not-exist`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('start again');
    expect(html).not.toMatch(/at .+\.(ts|js):\d+/);
  });

  it('reports health, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', limits: { store: 'database', ok: true } });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/gatehouse_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/);
    expect(metrics).toMatch(/gatehouse_logins_total\{connector="local",result="success"\} [1-9]/);
    expect(metrics).toMatch(/gatehouse_logins_total\{connector="local",result="failure"\} [1-9]/);
  });

  it('caches discovery and JWKS briefly', async () => {
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    }
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    for (const key of ['device_authorization_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint', 'userinfo_endpoint']) {
      expect(discovery[key]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    }
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']),
    );
    expect(discovery.response_types_supported).not.toContain('id_token');
    const jwks = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { alg: string; d?: string }[] };
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });
});
