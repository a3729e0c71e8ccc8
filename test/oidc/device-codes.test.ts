/**
 * The device grant's code page and polling, over HTTP (the Chromium tests in
 * test/e2e/device-flow.test.ts cover what a person sees): wrong user codes are
 * limited per IP (10 per 15 minutes, whatever the browser session) with a 429 page; polling faster than
 * `interval` gets `slow_down`, a cancelled sign-in `access_denied`, an expired
 * code `expired_token`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { Browserless } from '../helpers/http-login.ts';
import { startDeviceAuthorization } from '../helpers/device-approval.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const xsrfOf = (html: string) => /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

describe('device codes', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, { clients: [testClients.tv], ttl: { deviceCode: '10m' } });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const startDevice = () => startDeviceAuthorization(server.url);
  const poll = async (deviceCode: string) => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'tv', grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
    });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };
  const typeCode = async (browser: Browserless, code: string) => {
    const page = await browser.request(`${server.url}/device`);
    const xsrf = xsrfOf(await page.text());
    return browser.request(`${server.url}/device`, { form: { xsrf, user_code: code } });
  };

  it('answers the 11th wrong code from one IP with a 429 page, in the same browser session or a new one', async () => {
    const browser = new Browserless();
    for (let i = 0; i < 10; i += 1) expect((await typeCode(browser, 'BCDF-GHJK')).status).toBe(400);
    const blocked = await typeCode(browser, 'BCDF-GHJK');
    expect(blocked.status).toBe(429);
    expect(await blocked.text()).toContain('Too many wrong codes');
    // RFC 8628 §5.1: the limit is on the IP; a new session does not reset it (test/e2e/device-defaults.test.ts moves the clock past it).
    expect((await typeCode(new Browserless(), 'BCDF-GHJK')).status).toBe(429);
  });

  it('answers polling faster than the interval with slow_down and a pending code with authorization_pending', async () => {
    const device = await startDevice();
    expect(device.interval).toBeGreaterThan(0);
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect((await poll(device.device_code)).body.error).toBe('authorization_pending');
    expect((await poll(device.device_code)).body.error).toBe('slow_down');
  });

  it('answers expired_token once the code has expired', async () => {
    const device = await startDevice();
    expect(device.expires_in).toBe(600);
    // oidc-provider owns this lifetime and checks it against Date.now() (its epochTime()), not
    // Gatehouse's clock: only Date is faked, timers and I/O stay real, and Date is moved past it.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 601_000);
    const res = await poll(device.device_code);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('expired_token');
  });
});
