/**
 * The device authorization grant (RFC 8628) as devices and people really use
 * it, over HTTP (test/e2e/device-flow.test.ts covers the pages in Chromium):
 * the verbatim Keycloak / RFC 8628 request with only `client_id` ends in tokens
 * on Gatehouse's issuer and on the Keycloak realm; a person's "no" says so to
 * them and to the device; the code form posted without a browser session, or
 * malformed, gets a 4xx page, never a 500; wrong codes are limited per IP
 * (10 per 15 minutes, moved by the injected clock); a code typed again says
 * which state it is in, and an unfinished sign-in can be finished.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { answerDeviceCode } from '../helpers/device-approval.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const realmName = 'demo';
const person = { email: 'ada@example.com', password: 'analytical-engine-1843' };
const xsrfOf = (html: string) => /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const form = { 'content-type': 'application/x-www-form-urlencoded' };

interface Issuer {
  name: string;
  url: string;
  deviceAuthorization: string;
  token: string;
}

interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe.each(databaseKinds)('device grant defaults on %s', (kind) => {
  // The default scopes go through storage (device codes, grants): on both databases. The pages and limits once, on SQLite.
  const once = kind === 'sqlite';
  let db: TestDatabase;
  let server: TestServer;
  let issuers: Issuer[];
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(
      db,
      {
        // `gadget` may have offline_access only: no default scope is left for it, so its sign-in cannot give it anything.
        clients: [testClients.tv, { ...testClients.tv, client_id: 'gadget', client_name: 'Gadget', scope: 'offline_access' }],
        compat: { keycloak: { realm: realmName } },
        security: { devicePollInterval: '1s' },
      },
      { clock },
    );
    await server.gh.users.createLocal({ email: person.email, name: 'Ada Lovelace', password: person.password }, 'test');
    const realm = `${server.url}/realms/${realmName}`;
    issuers = [
      { name: 'Gatehouse', url: server.url, deviceAuthorization: `${server.url}/device/auth`, token: `${server.url}/token` },
      {
        name: 'Keycloak realm',
        url: realm,
        deviceAuthorization: `${realm}/protocol/openid-connect/auth/device`,
        token: `${realm}/protocol/openid-connect/token`,
      },
    ];
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });
  // Every test starts with an empty wrong-code window for 127.0.0.1 (the limit is 15 minutes).
  beforeEach(() => {
    skew += 16 * 60 * 1000;
  });

  /** The Keycloak docs' request, verbatim: `client_id` and nothing else. */
  async function startDevice(issuer: Issuer, clientId = 'tv'): Promise<DeviceAuthorization> {
    const res = await fetch(issuer.deviceAuthorization, { method: 'POST', headers: form, body: new URLSearchParams({ client_id: clientId }) });
    expect(res.status).toBe(200);
    return (await res.json()) as DeviceAuthorization;
  }

  async function poll(issuer: Issuer, deviceCode: string, clientId = 'tv'): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(issuer.token, {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({ client_id: clientId, grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Opens the code page in a fresh browser session and types `code`. */
  async function typeCode(issuer: Issuer, code: string, browser = new Browserless()): Promise<{ response: Response; html: string; browser: Browserless }> {
    const page = await browser.request(`${issuer.url}/device`);
    const xsrf = xsrfOf(await page.text());
    const response = await browser.request(`${issuer.url}/device`, { form: { xsrf, user_code: code } });
    return { response, html: await response.text(), browser };
  }

  it.each([0, 1])('gives tokens with an ID token to a device that sends only client_id (issuer %i: Gatehouse, then the Keycloak realm)', async (index) => {
    const issuer = issuers[index]!;
    const device = await startDevice(issuer);
    expect(device.verification_uri).toBe(`${issuer.url}/device`);
    const done = await answerDeviceCode(issuer.url, device.user_code, 'confirm', person);
    expect(done).toContain('Device connected');

    const { status, body } = await poll(issuer, device.device_code);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(String(body.scope).split(' ')).toEqual(expect.arrayContaining(['openid', 'email', 'profile']));
    expect(body.access_token).toBeTruthy();
    expect(body.refresh_token).toBeTruthy();
    expect(typeof body.id_token).toBe('string');
    expect(claimsOf(String(body.id_token))).toMatchObject({ iss: issuer.url, aud: 'tv' });
    const userinfo = await fetch(`${issuer.url}${index === 0 ? '/me' : '/protocol/openid-connect/userinfo'}`, {
      headers: { authorization: `Bearer ${String(body.access_token)}` },
    });
    expect(await userinfo.json()).toMatchObject({ email: person.email });
  });

  it.runIf(once)('keeps a scope the device asked for', async () => {
    const issuer = issuers[0]!;
    const res = await fetch(issuer.deviceAuthorization, { method: 'POST', headers: form, body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }) });
    const device = (await res.json()) as DeviceAuthorization;
    await answerDeviceCode(issuer.url, device.user_code, 'confirm', person);
    const { body } = await poll(issuer, device.device_code);
    expect(body.scope).toBe('openid');
  });

  it.runIf(once)('says so when the person cancels on the confirmation page, and the device gets access_denied with a description', async () => {
    const issuer = issuers[1]!;
    const device = await startDevice(issuer);
    const html = await answerDeviceCode(issuer.url, device.user_code, 'cancel', person);
    expect(html).toContain('You cancelled the sign-in, so the device was not connected');
    const { status, body } = await poll(issuer, device.device_code);
    expect(status).toBe(400);
    expect(body.error).toBe('access_denied');
    expect(body.error_description).toBeTruthy();
  });

  it.runIf(once)('says so when the person declines on the consent page', async () => {
    const issuer = issuers[0]!;
    const device = await startDevice(issuer);
    const html = await answerDeviceCode(issuer.url, device.user_code, 'decline', person);
    expect(html).toContain('You declined the request, so the device was not connected');
    expect(html).not.toContain('cancelled');
    const { body } = await poll(issuer, device.device_code);
    expect(body).toMatchObject({ error: 'access_denied', error_description: 'The user declined the request.' });
  });

  it.runIf(once)("names a failure the person did not cause, on the page and in the device's error_description", async () => {
    const issuer = issuers[0]!;
    const device = await startDevice(issuer, 'gadget');
    const typed = await typeCode(issuer, device.user_code);
    expect(typed.html).toContain('Confirm the device');
    let step = await typed.browser.follow(`${issuer.url}/device`, issuer.url, {
      form: { xsrf: xsrfOf(typed.html), user_code: device.user_code, confirm: 'yes' },
    });
    const login = await step.response.text();
    step = await typed.browser.follow(`${step.url}/login`, issuer.url, { form: { _csrf: csrfOf(login), ...person } });
    const page = await step.response.text();
    expect(step.response.status).toBe(400);
    expect(page).toContain('The device was not connected: The device asked for nothing that can be granted (no scope).');
    expect(page).not.toContain('You cancelled');
    const { body } = await poll(issuer, device.device_code, 'gadget');
    expect(body).toMatchObject({ error: 'access_denied', error_description: 'The device asked for nothing that can be granted (no scope).' });
  });

  it.runIf(once)('answers the code form posted without a browser session with a 403 page saying to start again from the device', async () => {
    for (const issuer of issuers) {
      const bodies: Record<string, string>[] = [{}, { user_code: 'BCDF-GHJK' }, { xsrf: 'guessed', user_code: 'BCDF-GHJK', confirm: 'yes' }];
      for (const body of bodies) {
        const res = await fetch(`${issuer.url}/device`, { method: 'POST', headers: { ...form, accept: 'text/html' }, body: new URLSearchParams(body) });
        const html = await res.text();
        expect(res.status, `${issuer.name} ${JSON.stringify(body)}: ${html.slice(0, 300)}`).toBe(403);
        expect(res.headers.get('content-type')).toContain('text/html');
        expect(html).toContain('Start again from your device');
        expect(html).toContain('<html lang="en">');
      }
      // A session cookie that names no stored session (expired, or made up) is the same case.
      const res = await fetch(`${issuer.url}/device`, {
        method: 'POST',
        headers: { ...form, cookie: `${issuer.name === 'Gatehouse' ? 'gh' : 'gh.realm'}.session=made-up` },
        body: new URLSearchParams({ xsrf: 'x', user_code: 'BCDF-GHJK' }),
      });
      expect(res.status).toBe(403);
    }
  });

  it.runIf(once)('answers malformed code forms in a live session with a 4xx page, never a 500', async () => {
    const issuer = issuers[0]!;
    const browser = new Browserless();
    const xsrf = xsrfOf(await (await browser.request(`${issuer.url}/device`)).text());
    const post = (body: string, headers: Record<string, string> = form) =>
      fetch(`${issuer.url}/device`, { method: 'POST', headers: { ...headers, accept: 'text/html', cookie: browser.jar.header(`${issuer.url}/device`) }, body });
    const cases: { name: string; body: string; headers?: Record<string, string> }[] = [
      { name: 'no xsrf', body: 'user_code=BCDF-GHJK' },
      { name: 'wrong xsrf', body: 'xsrf=0000&user_code=BCDF-GHJK' },
      { name: 'empty body', body: '' },
      { name: 'missing user_code', body: `xsrf=${xsrf}` },
      { name: 'confirm without a code', body: `xsrf=${xsrf}&confirm=yes` },
      { name: 'abort without a code', body: `xsrf=${xsrf}&abort=yes` },
      { name: 'user_code twice', body: `xsrf=${xsrf}&user_code=BCDF-GHJK&user_code=CDFG-HJKL` },
      { name: 'a huge body', body: `xsrf=${xsrf}&user_code=${'B'.repeat(200_000)}` },
      { name: 'a long code', body: `xsrf=${xsrf}&user_code=${'Ü'.repeat(2000)}` },
      { name: 'JSON instead of a form', body: JSON.stringify({ xsrf, user_code: 'BCDF-GHJK' }), headers: { 'content-type': 'application/json' } },
      { name: 'broken percent-encoding', body: `xsrf=${xsrf}&user_code=%E0%A4%A` },
    ];
    for (const c of cases) {
      const res = await post(c.body, c.headers);
      const html = await res.text();
      expect(res.status, `${c.name}: ${html.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, c.name).toBeLessThan(500);
      expect(res.headers.get('content-type'), c.name).toContain('text/html');
      expect(html, c.name).toContain('<html lang="en">');
      expect(html, c.name).not.toMatch(/persist|TypeError|at .*\.js:\d+/);
    }
  });

  it.runIf(once)('answers the 11th wrong code from one IP with 429, however many browser sessions it opens, until 15 minutes have passed', async () => {
    for (let i = 0; i < 10; i += 1) {
      // Alternating issuers: the limit is one for both.
      const { response } = await typeCode(issuers[i % 2]!, 'BCDF-GHJK');
      expect(response.status, `wrong code ${i + 1}`).toBe(400);
    }
    const blocked = await typeCode(issuers[0]!, 'BCDF-GHJK');
    expect(blocked.response.status).toBe(429);
    expect(blocked.html).toContain('Too many wrong codes');
    // A real code is refused too while the window lasts: the limit is on the IP, not on what it types.
    const device = await startDevice(issuers[0]!);
    expect((await typeCode(issuers[0]!, device.user_code)).response.status).toBe(429);
    skew += 14 * 60 * 1000;
    expect((await typeCode(issuers[1]!, 'BCDF-GHJK')).response.status).toBe(429);
    skew += 60 * 1000 + 1000;
    expect((await typeCode(issuers[1]!, 'BCDF-GHJK')).response.status).toBe(400);
  });

  it.runIf(once)('leads a person who typed a confirmed code again back to finishing the sign-in, then says the code was used', async () => {
    const issuer = issuers[0]!;
    const device = await startDevice(issuer);
    // Type and confirm, then leave the sign-in page.
    const first = await typeCode(issuer, device.user_code);
    expect(first.html).toContain('Confirm the device');
    const left = await first.browser.follow(`${issuer.url}/device`, issuer.url, {
      form: { xsrf: xsrfOf(first.html), user_code: device.user_code, confirm: 'yes' },
    });
    expect(await left.response.text()).toContain('name="password"');

    // The same code typed again, in the same browser: its state, and a way to finish.
    const again = await typeCode(issuer, device.user_code, first.browser);
    expect(again.response.status).toBe(200);
    expect(again.html).toContain('You already confirmed this code, but the sign-in was not finished');
    expect(again.html).toContain(device.user_code);
    let step = await again.browser.follow(`${issuer.url}/device`, issuer.url, {
      form: { xsrf: xsrfOf(again.html), user_code: device.user_code, confirm: 'yes' },
    });
    let html = await step.response.text();
    expect(html).toContain('name="password"');
    step = await again.browser.follow(`${step.url}/login`, issuer.url, { form: { _csrf: csrfOf(html), ...person } });
    html = await step.response.text();
    if (html.includes('name="decision"')) {
      step = await again.browser.follow(`${step.url}/consent`, issuer.url, { form: { _csrf: csrfOf(html), decision: 'allow' } });
      html = await step.response.text();
    }
    expect(html).toContain('Device connected');
    expect((await poll(issuer, device.device_code)).status).toBe(200);

    // Typed once more (in another browser): already used, the device is connected.
    const used = await typeCode(issuer, device.user_code);
    expect(used.response.status).toBe(400);
    expect(used.html).toContain('already been used: the device is connected');
  });

  it.runIf(once)('says a declined code was declined, and an unknown code is not right', async () => {
    const issuer = issuers[1]!;
    const device = await startDevice(issuer);
    await answerDeviceCode(issuer.url, device.user_code, 'cancel', person);
    const declined = await typeCode(issuer, device.user_code);
    expect(declined.response.status).toBe(400);
    expect(declined.html).toContain('That code was declined');
    const unknown = await typeCode(issuer, device.user_code === 'BBBB-BBBB' ? 'CCCC-CCCC' : 'BBBB-BBBB');
    expect(unknown.response.status).toBe(400);
    expect(unknown.html).toContain('That code is not right');
  });
});
