/**
 * keycloak-js 26, unchanged and with its defaults (`checkLoginIframe` on,
 * `pkceMethod: 'S256'`), as a public client on another origin, against the
 * Keycloak realm (`compat.keycloak.realm`) in real Chromium: registered through
 * `clients-registrations/default` with `webOrigins: ['+']`, it signs a person
 * in on Gatehouse's login page, holds Keycloak-shaped tokens and refreshes
 * them. Beside it, the pieces it relies on over plain HTTP: CORS with
 * credentials only for a client's web origins, the session and cookie-check
 * iframes framed only by registered web origins, Keycloak's init check.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const realmName = 'master';
const shots = process.env.GATEHOUSE_SCREENSHOTS;
const keycloakJs = readFileSync(createRequire(import.meta.url).resolve('keycloak-js'), 'utf8');

/** The app: one page that loads keycloak-js from node_modules and calls init as a Keycloak shop would. */
function startApp(config: () => { url: string; realm: string; clientId: string }): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname;
    if (path === '/keycloak.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(keycloakJs);
    } else if (path === '/app.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(`
        import Keycloak from '/keycloak.js';
        const keycloak = new Keycloak(${JSON.stringify(config())});
        window.keycloak = keycloak;
        keycloak.init({ onLoad: 'login-required', pkceMethod: 'S256' })
          .then((authenticated) => { document.getElementById('state').textContent = authenticated ? 'authenticated' : 'anonymous'; })
          .catch((err) => { document.getElementById('state').textContent = 'failed: ' + (err && (err.message || err.error) || err); });
      `);
    } else if (path === '/') {
      res
        .writeHead(200, { 'Content-Type': 'text/html' })
        .end('<!doctype html><html><body><p id="state">starting</p><script type="module" src="/app.js"></script></body></html>');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        stop: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    ),
  );
}

describe.skipIf(!chromiumAvailable())('keycloak-js against the Keycloak realm', () => {
  let db: TestDatabase;
  let server: TestServer;
  let app: { url: string; stop(): Promise<void> };
  let browser: Browser;
  let realm: string;
  const otherOrigin = 'http://127.0.0.1:9';

  const register = async (rep: Record<string, unknown>) => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 60_000 }, 'test');
    const res = await fetch(`${realm}/clients-registrations/default`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `bearer ${token}` },
      body: JSON.stringify(rep),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    app = await startApp(() => ({ url: server.url, realm: realmName, clientId: 'kc-spa' }));
    server = await startTestServer(db, {
      registration: { enabled: true, initialAccessToken: 'required', policies: { consentRequired: false } },
      compat: { keycloak: { realm: realmName } },
    });
    realm = `${server.url}/realms/${realmName}`;
    await server.gh.users.createLocal({ email: 'grace@example.com', name: 'Grace Hopper', password: 'compiler-a-0-1952' }, 'test');
    const rep = await register({ clientId: 'kc-spa', publicClient: true, redirectUris: [`${app.url}/`], webOrigins: ['+'] });
    expect(rep).toMatchObject({ clientId: 'kc-spa', publicClient: true, webOrigins: ['+'], standardFlowEnabled: true });
    await register({ clientId: 'kc-explicit', publicClient: true, redirectUris: ['http://127.0.0.1:8/cb'], webOrigins: [app.url] });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await server?.stop();
    await db?.drop();
  });

  it('signs a person in with keycloak-js defaults, gives it Keycloak-shaped tokens, and refreshes them', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const seen: string[] = [];
    page.on('response', (res) => seen.push(`${res.status()} ${new URL(res.url()).pathname}`));
    await page.goto(`${app.url}/`);
    await page.getByLabel('E-mail address').waitFor();
    expect(page.url()).toContain(`/realms/${realmName}/interaction/`);
    if (shots) {
      await page.screenshot({ path: `${shots}/keycloak-js-login-1280.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: `${shots}/keycloak-js-login-390.png`, fullPage: true });
    }
    await page.getByLabel('E-mail address').fill('grace@example.com');
    await page.getByLabel('Password').fill('compiler-a-0-1952');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${app.url}/**`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent !== 'starting');
    expect(await page.textContent('#state')).toBe('authenticated');

    type Parsed = Record<string, unknown>;
    const read = () =>
      page.evaluate(() => {
        const kc = (
          window as unknown as {
            keycloak: { authenticated: boolean; token: string; refreshToken: string; tokenParsed: Parsed; refreshTokenParsed: Parsed; idTokenParsed: Parsed };
          }
        ).keycloak;
        return {
          authenticated: kc.authenticated,
          token: kc.token,
          refreshToken: kc.refreshToken,
          tokenParsed: kc.tokenParsed,
          refreshTokenParsed: kc.refreshTokenParsed,
          idTokenParsed: kc.idTokenParsed,
        };
      });
    const first = await read();
    const [user] = await server.gh.users.list();
    expect(first.authenticated).toBe(true);
    expect(first.tokenParsed).toMatchObject({ iss: realm, sub: user!.id, azp: 'kc-spa', typ: 'Bearer', sid: expect.any(String) });
    expect(first.refreshTokenParsed).toMatchObject({ iss: realm, sub: user!.id, typ: 'Refresh', sid: first.tokenParsed.sid });
    expect(first.idTokenParsed).toMatchObject({ iss: realm, aud: 'kc-spa', sub: user!.id });

    // updateToken asks the session iframe first (it must answer "unchanged"), then refreshes with credentials: 'include'.
    const refreshed = await page.evaluate(() => (window as unknown as { keycloak: { updateToken(s: number): Promise<boolean> } }).keycloak.updateToken(-1));
    expect(refreshed).toBe(true);
    // The cookie check said "supported" (so the session iframe stayed on) and the iframe was asked.
    const base = `/realms/${realmName}/protocol/openid-connect`;
    expect(seen).toEqual(
      expect.arrayContaining([`200 ${base}/3p-cookies/step2.html`, `200 ${base}/login-status-iframe.html`, `200 ${base}/login-status-iframe.html/status`]),
    );
    const second = await read();
    expect(second.authenticated).toBe(true);
    expect(second.token).not.toBe(first.token);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.tokenParsed).toMatchObject({ sub: user!.id, sid: first.tokenParsed.sid });

    // The session iframe's answer: unchanged for the sid this browser signed in with, changed for any other.
    const status = async (sessionState: string) =>
      (
        await context.request.get(
          `${realm}/protocol/openid-connect/login-status-iframe.html/status?${new URLSearchParams({ client_id: 'kc-spa', origin: app.url, session_state: sessionState })}`,
        )
      ).text();
    expect(await status(String(first.tokenParsed.sid))).toBe('unchanged');
    expect(await status('another-session')).toBe('changed');

    // The wrapped access token works at the realm's userinfo, as a Keycloak token does.
    const info = await fetch(`${realm}/protocol/openid-connect/userinfo`, { headers: { Authorization: `Bearer ${second.token}` } });
    expect(info.status).toBe(200);
    expect(((await info.json()) as { sub: string }).sub).toBe(user!.id);
    await context.close();
  });

  it("allows credentials at the token endpoint only for the client's web origins", async () => {
    const tokenRequest = (clientId: string, origin: string) =>
      fetch(`${realm}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { Origin: origin, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: clientId }),
      });
    for (const clientId of ['kc-spa', 'kc-explicit']) {
      const allowed = await tokenRequest(clientId, app.url);
      expect(allowed.status).toBe(400);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(app.url);
      expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
      const refused = await tokenRequest(clientId, otherOrigin);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('lets only registered web origins frame the session and cookie-check pages; every other page stays unframable', async () => {
    for (const path of ['login-status-iframe.html', '3p-cookies/step1.html', '3p-cookies/step2.html']) {
      const res = await fetch(`${realm}/protocol/openid-connect/${path}`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      const ancestors = /frame-ancestors ([^;]*)/.exec(csp)?.[1]?.split(' ') ?? [];
      expect(ancestors.sort()).toEqual([app.url]);
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBeNull();
      expect(await res.text()).toMatch(/<script src="[^"]+\.js"><\/script>/);
    }
    for (const path of [`${realm}/.well-known/openid-configuration`, `${realm}/protocol/openid-connect/login-status-iframe.js`, `${server.url}/no-such-page`]) {
      const res = await fetch(path);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it("answers Keycloak's iframe init with 204 for a web origin of the client and 403 otherwise", async () => {
    const init = (clientId: string, origin: string) =>
      fetch(`${realm}/protocol/openid-connect/login-status-iframe.html/init?${new URLSearchParams({ client_id: clientId, origin })}`);
    expect((await init('kc-spa', app.url)).status).toBe(204);
    expect((await init('kc-explicit', app.url)).status).toBe(204);
    expect((await init('kc-spa', otherOrigin)).status).toBe(403);
    expect((await init('no-such-client', app.url)).status).toBe(403);
    const status = await fetch(
      `${realm}/protocol/openid-connect/login-status-iframe.html/status?${new URLSearchParams({ client_id: 'kc-spa', origin: otherOrigin, session_state: 'x' })}`,
    );
    expect(status.status).toBe(403);
  });
});
