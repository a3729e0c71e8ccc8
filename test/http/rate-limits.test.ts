/**
 * The per-IP rate limits take their numbers from `security.rateLimits`
 * (config/schema.ts, http/middleware/rate-limit.ts): a server configured with
 * small limits answers 429 one attempt past each `max`, and takes attempts
 * again once the injected clock has moved past that limit's `window`. The
 * defaults are the numbers the behaviour tests exercise
 * (test/oidc/device-codes.test.ts, test/gating/access-requests.test.ts,
 * test/devices/limits.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { rateLimitsOf } from '../../src/http/middleware/rate-limit.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { deviceJwtIssuer, deviceJwtSecret, enroll, newManufacturerId } from '../helpers/devices.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const file = '/etc/gatehouse/config.yaml';
const minute = 60_000;

describe('rate limits from security.rateLimits', () => {
  it('keeps the numbers that were built in as defaults', () => {
    const config = parseConfig('# defaults only\n', file, {});
    expect(config.security.rateLimits).toEqual({
      store: 'database',
      deviceCodes: { max: 10, window: '15m' },
      gate: { max: 30, window: '15m' },
      signup: { max: 10, window: '15m' },
      deviceRegistration: { window: '15m' },
      admin: { max: 600, window: '1m' },
      passwordReset: { max: 10, window: '15m' },
    });
    expect(rateLimitsOf(config)).toEqual({
      deviceCodes: { max: 10, windowMs: 15 * minute },
      gate: { max: 30, windowMs: 15 * minute },
      signup: { max: 10, windowMs: 15 * minute },
      deviceRegistration: { max: 60, windowMs: 15 * minute },
      admin: { max: 600, windowMs: minute },
      passwordReset: { max: 10, windowMs: 15 * minute },
    });
  });

  it("takes device enrollment's max from deviceRegistration.rateLimit unless security.rateLimits sets one", () => {
    expect(rateLimitsOf(parseConfig('deviceRegistration: { rateLimit: 7 }\n', file, {})).deviceRegistration).toEqual({ max: 7, windowMs: 15 * minute });
    const both = parseConfig('deviceRegistration: { rateLimit: 7 }\nsecurity: { rateLimits: { deviceRegistration: { max: 3, window: 1h } } }\n', file, {});
    expect(rateLimitsOf(both).deviceRegistration).toEqual({ max: 3, windowMs: 60 * minute });
  });

  it('refuses a limit of 0, a window that is no duration and an unknown limit, naming each key', () => {
    const text = 'security:\n  rateLimits:\n    gate: { max: 0 }\n    signup: { window: soon }\n    joins: { max: 3 }\n';
    let message = '';
    try {
      parseConfig(text, file, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/security\.rateLimits\.gate\.max/);
    expect(message).toMatch(/security\.rateLimits\.signup\.window/);
    expect(message).toMatch(/security\.rateLimits.*joins/);
  });

  it('counts in the database unless security.rateLimits.store says redis (with redis.url) or memory', () => {
    const messageOf = (text: string): string => {
      try {
        parseConfig(text, file, {});
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(parseConfig('# defaults only\n', file, {}).redis).toEqual({});
    expect(parseConfig('security: { rateLimits: { store: memory } }\n', file, {}).security.rateLimits.store).toBe('memory');
    const redis = parseConfig('security: { rateLimits: { store: redis } }\nredis: { url: "redis://127.0.0.1:6379/0" }\n', file, {});
    expect([redis.security.rateLimits.store, redis.redis.url]).toEqual(['redis', 'redis://127.0.0.1:6379/0']);
    expect(messageOf('security: { rateLimits: { store: redis } }\n')).toMatch(/redis\.url/);
    expect(messageOf('security: { rateLimits: { store: files } }\n')).toMatch(/security\.rateLimits\.store/);
    expect(messageOf('redis: { url: "http://127.0.0.1:6379" }\n')).toMatch(/redis\.url/);
  });
});

describe('a server with small rate limits', () => {
  const redirectUri = 'http://127.0.0.1:9/cb';
  let db: TestDatabase;
  let server: TestServer;
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(
      db,
      {
        clients: [{ ...testClients.web, redirect_uris: [redirectUri] }, testClients.tv],
        connectors: [{ id: 'local', type: 'local', signup: true }],
        firstauth: { enable: true, mode: 'manual' },
        // The older key says 100,000: the max under security.rateLimits wins.
        deviceRegistration: { enabled: true, jwt: { secret: deviceJwtSecret, issuer: deviceJwtIssuer }, rateLimit: 100_000 },
        security: {
          rateLimits: {
            deviceCodes: { max: 2, window: '1m' },
            gate: { max: 2, window: '2m' },
            signup: { max: 2, window: '3m' },
            deviceRegistration: { max: 2, window: '4m' },
          },
        },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** `max` attempts pass, the next is refused; still refused just inside the window, taken again just past it. */
  async function expectLimit(attempt: () => Promise<number>, passing: number, max: number, windowMs: number): Promise<void> {
    for (let i = 0; i < max; i += 1) expect(await attempt(), `attempt ${i + 1}`).toBe(passing);
    expect(await attempt(), `attempt ${max + 1}`).toBe(429);
    skew += windowMs - 30_000;
    expect(await attempt(), '30 s before the window has passed').toBe(429);
    skew += minute;
    expect(await attempt(), 'once the window has passed').toBe(passing);
  }

  it('answers the 3rd wrong device code with 429, and takes codes again after 1 minute (deviceCodes)', async () => {
    const browser = new Browserless();
    const typeWrongCode = async () => {
      const page = await browser.request(`${server.url}/device`);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      return (await browser.request(`${server.url}/device`, { form: { xsrf, user_code: 'BCDF-GHJK' } })).status;
    };
    await expectLimit(typeWrongCode, 400, 2, minute);
  });

  it('answers the 3rd token entry at the gate with 429, and takes tokens again after 2 minutes (gate)', async () => {
    const who = { email: 'gated@example.com', password: 'password-of-gated-xyz' };
    await insertLocalAccount(server.gh.db, {
      id: 'gated',
      email: who.email,
      name: 'Gated Person',
      password_hash: await server.gh.passwords.hash(who.password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const interaction = new URL((await browser.request(auth)).headers.get('location')!, server.url).href;
    const login = await browser.request(interaction);
    const gate = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await login.text()), email: who.email, password: who.password } });
    const html = await gate.text();
    expect(html).toContain('An invitation is needed');
    const csrf = csrfOf(html);
    const enterWrongToken = async () => (await browser.request(`${interaction}/token`, { form: { _csrf: csrf, acl_token: 'gha_wrong' } })).status;
    await expectLimit(enterWrongToken, 404, 2, 2 * minute);
  });

  it('answers the 3rd sign-up with 429, and takes sign-ups again after 3 minutes (signup)', async () => {
    const browser = new Browserless();
    let n = 0;
    const signUp = async () => {
      const form = await browser.request(`${server.url}/signup`);
      n += 1;
      const fields = { _csrf: csrfOf(await form.text()), email: `new${n}@example.com`, name: `New Person ${n}`, password: `password-of-new-${n}-xyz` };
      return (await browser.request(`${server.url}/signup`, { form: fields })).status;
    };
    await expectLimit(signUp, 200, 2, 3 * minute);
  });

  it('answers the 3rd device enrollment with 429, and takes enrollments again after 4 minutes (deviceRegistration)', async () => {
    const attempt = async () => (await enroll(server.url, { token: 'not-a-jwt', manufacturerId: newManufacturerId() })).status;
    await expectLimit(attempt, 401, 2, 4 * minute);
  });
});
