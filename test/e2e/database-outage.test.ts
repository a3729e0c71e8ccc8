/**
 * The database goes away and comes back. On a PostgreSQL server this test
 * starts and stops itself: while it is down, protocol endpoints answer 503
 * `temporarily_unavailable` (registration too), Gatehouse's pages a plain 503 page, both with
 * Retry-After; /readyz says 503 and /healthz 200; discovery and JWKS (served
 * from memory) keep working; no background loop crashes the process. Once it
 * is back, everything works again without restarting Gatehouse.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browserless, tokenRequest } from '../helpers/http-login.ts';
import { keyRefreshIntervalMs } from '../../src/oidc/key-refresh.ts';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-postgres.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { postgresServerBinaries } from '../helpers/services.ts';

const binaries = postgresServerBinaries();
const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

/** Polls until `probe` holds, at most `timeoutMs`: here we wait for a real outside process (PostgreSQL starting). */
async function within<T>(timeoutMs: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!binaries)('a PostgreSQL outage', () => {
  let pg: OwnPostgres;
  let server: TestServer;
  let interactionUrl: string;
  const browser = new Browserless();
  // Moved past the key refresh interval during the outage, so /jwks is served while the key check fails.
  let skew = 0;
  const clock = { now: () => Date.now() + skew };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    pg = await startOwnPostgres(binaries as string);
    server = await startTestServer(
      pg.database,
      { clients: [web, testClients.service], registration: { enabled: true, initialAccessToken: 'required' } },
      { clock },
    );
    await server.gh.users.createLocal({ email: 'grace@example.com', password: 'cobol-rules-1959' }, 'test');
    // A sign-in started before the outage: its login page is then asked for while the database is down.
    const auth = new URL(`${server.url}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'web',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    }).toString();
    const started = await browser.follow(auth.href, server.url);
    expect(started.response.status).toBe(200);
    interactionUrl = started.url;
    await pg.stop();
  }, 60_000);
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await server?.stop();
    await pg?.destroy();
  });

  describe('while the database is down', () => {
    it('answers the token endpoint with 503 temporarily_unavailable and Retry-After', async () => {
      const response = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`service:${testClients.service.client_secret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.error).toBe('temporarily_unavailable');
      expect(String(body.error_description)).toMatch(/cannot reach its database/);
    });

    it('answers dynamic client registration (Gatehouse checks the token in front) with 503 temporarily_unavailable JSON', async () => {
      const response = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { authorization: 'Bearer some-registration-token', 'content-type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await response.json()) as Record<string, unknown>).error).toBe('temporarily_unavailable');
    });

    it('answers the login page with a plain 503 page and Retry-After', async () => {
      const response = await browser.request(interactionUrl);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html).toContain('Gatehouse cannot reach its database right now');
      expect(html).not.toMatch(/ECONNREFUSED|57P01|server_error|stack/i);
    });

    it('sends a new authorization request back to the client with temporarily_unavailable (RFC 6749 §4.1.2.1)', async () => {
      const auth = new URL(`${server.url}/auth`);
      auth.search = new URLSearchParams({
        client_id: 'web',
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid',
        state: 'st8',
        code_challenge: 'y'.repeat(43),
        code_challenge_method: 'S256',
      }).toString();
      const response = await new Browserless().request(auth.href);
      const back = new URL(response.headers.get('location') ?? '', server.url);
      expect(back.origin + back.pathname).toBe(redirectUri);
      expect(back.searchParams.get('error')).toBe('temporarily_unavailable');
      expect(back.searchParams.get('state')).toBe('st8');
    });

    it("answers an authorization request for a client kept in the database with a plain 503 page (oidc-provider's error page)", async () => {
      const auth = new URL(`${server.url}/auth`);
      auth.search = new URLSearchParams({ client_id: 'a-registered-client', response_type: 'code', redirect_uri: redirectUri, scope: 'openid' }).toString();
      const response = await new Browserless().request(auth.href);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html).toContain('temporarily_unavailable');
      expect(html).not.toMatch(/oops|server_error/i);
    });

    it('keeps serving discovery and the JWKS from memory, also when the key check falls due', async () => {
      skew += keyRefreshIntervalMs + 1000;
      expect((await fetch(`${server.url}/.well-known/openid-configuration`)).status).toBe(200);
      const jwks = await fetch(`${server.url}/jwks`);
      expect(jwks.status).toBe(200);
      expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    });

    it('is not ready (/readyz 503) but alive (/healthz 200)', async () => {
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await ready.json()).toEqual({
        status: 'database unreachable',
        limits: { store: 'database', ok: false, message: 'The database does not answer: limited requests answer 503.' },
      });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    });
  });

  describe('once the database is back', () => {
    beforeAll(async () => {
      await pg.start();
    }, 60_000);

    it('is ready again within 30 s, without a restart', async () => {
      await within(30_000, '/readyz answers 200', async () => ((await fetch(`${server.url}/readyz`)).status === 200 ? true : undefined));
    }, 35_000);

    it('issues tokens and shows the login page again', async () => {
      const token = await tokenRequest(server.url, testClients.service, { grant_type: 'client_credentials' });
      expect(token.status).toBe(200);
      const login = await browser.request(interactionUrl);
      expect(login.status).toBe(200);
      expect(await login.text()).toContain('name="password"');
    });

    it('delivers mail queued after the outage: the sender survived it', async () => {
      await server.gh.outbox.enqueue(server.gh.db, {
        to: 'grace@example.com',
        subject: 'After the outage',
        template: 'verify-email',
        context: { name: 'Grace', link: `${server.url}/verify-email/x`, brand: 'Gatehouse' },
      });
      const folder = path.resolve(server.config.mailer.outbox ?? '');
      await within(10_000, 'an .eml file in the outbox', async () =>
        existsSync(folder) && readdirSync(folder).some((f) => f.endsWith('.eml')) ? true : undefined,
      );
    }, 15_000);

    it('saw no unhandled rejection through the outage', () => {
      expect(unhandled).toEqual([]);
    });
  });
});
