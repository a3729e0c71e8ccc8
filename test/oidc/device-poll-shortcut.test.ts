/**
 * Pending device polls answered in front of oidc-provider
 * (src/oidc/device-polling.ts `answerPendingPolls`), on SQLite and PostgreSQL:
 * the answer is oidc-provider's own (status, JSON, Cache-Control), a poll
 * with anything unusual (an extra parameter, HTML wanted) still goes to
 * oidc-provider, the pace counts once per poll whichever answers it
 * (`slow_down` alike), and a code that has ended (denied here) is answered
 * by oidc-provider. Which one answered is seen from oidc-provider's
 * `grant.error` event, which only its token endpoint emits.
 */
import { Provider } from 'oidc-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { answerDeviceCode, startDeviceAuthorization } from '../helpers/device-approval.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const grantType = 'urn:ietf:params:oauth:grant-type:device_code';

describe.each(databaseKinds)('pending device polls answered in front of oidc-provider on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [testClients.tv], security: { devicePollInterval: '5s' } });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const startDevice = () => startDeviceAuthorization(server.url);
  const poll = async (deviceCode: string, extra: Record<string, string> = {}, accept = 'application/json') => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept },
      body: new URLSearchParams({ client_id: 'tv', grant_type: grantType, device_code: deviceCode, ...extra }),
    });
    return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), body: await res.text() };
  };
  const grantErrors = (emit: { mock: { calls: unknown[][] } }) => emit.mock.calls.filter(([event]) => event === 'grant.error').length;

  it('answers a pending poll as oidc-provider does, slow_down alike, and leaves unusual polls to it', async () => {
    const emit = vi.spyOn(Provider.prototype, 'emit');
    const [short, long] = [await startDevice(), await startDevice()];

    const answered = await poll(short.device_code);
    expect(grantErrors(emit)).toBe(0);
    // An extra parameter (oidc-provider drops it): oidc-provider's own answer.
    const byProvider = await poll(long.device_code, { note: 'x' });
    expect(grantErrors(emit)).toBe(1);
    expect(answered).toEqual(byProvider);
    expect(answered.status).toBe(400);
    expect(JSON.parse(answered.body)).toMatchObject({ error: 'authorization_pending' });
    expect(answered.cache).toBe('no-store');

    // Polled again within the interval: one pace count per poll, whichever answered the first.
    const slowed = await poll(short.device_code);
    const slowedByProvider = await poll(long.device_code, { note: 'x' });
    expect(grantErrors(emit)).toBe(2);
    expect(slowed).toEqual(slowedByProvider);
    expect(JSON.parse(slowed.body)).toMatchObject({ error: 'slow_down' });
  });

  it('leaves a poll that wants HTML, and a code that has ended, to oidc-provider', async () => {
    const emit = vi.spyOn(Provider.prototype, 'emit');
    const device = await startDevice();
    const html = await poll(device.device_code, {}, 'text/html');
    expect(grantErrors(emit)).toBe(1);
    expect(html.type).toMatch(/^text\/html/);

    const denied = await startDevice();
    await answerDeviceCode(server.url, denied.user_code, 'cancel', { email: '', password: '' });
    const answer = await poll(denied.device_code);
    expect(grantErrors(emit)).toBe(2);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'access_denied' });
  });
});
