/**
 * Every instance shares every limit (issue 14, `security.rateLimits.store`):
 * two Gatehouse servers on the SAME database, with the default store
 * (`database`), count the sign-up, gate and admin limits together: attempts
 * split over both are refused at exactly max+1 in total, with Retry-After,
 * and both take attempts again once the window (from the first) has passed on
 * the shared injected clock. 50 admin calls at once over both pass exactly
 * `max` times. With `store: redis` (127.0.0.1:6379, its database 9, emptied
 * first; skipped loudly when missing, a failure under CI=true) the same; with
 * `store: memory` each instance counts alone, as documented. On SQLite and
 * PostgreSQL for the database store; Redis and memory on SQLite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApiKey } from '../../src/admin/api-keys.ts';
import { createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { redisAvailable } from '../helpers/services.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';

const redisUrl = process.env.GATEHOUSE_TEST_REDIS_SHARED ?? 'redis://127.0.0.1:6379/9';
const redirectUri = 'http://127.0.0.1:9/cb';
const minute = 60_000;
const limits = { signup: 3, gate: 3, admin: 4 };

type Store = 'database' | 'redis' | 'memory';
const cases: Array<{ store: Store; kind: DatabaseKind }> = [
  ...databaseKinds.map((kind) => ({ store: 'database' as const, kind })),
  ...((await redisAvailable(redisUrl, { flush: true })) ? [{ store: 'redis' as const, kind: 'sqlite' as const }] : []),
  { store: 'memory', kind: 'sqlite' },
];

describe.each(cases)('two instances with store: $store on $kind', ({ store, kind }) => {
  const shared = store !== 'memory';
  let db: TestDatabase;
  let servers: TestServer[] = [];
  let now = Date.now();
  const clock = { now: () => now };
  const sequentialKey = makeApiKey('sequential');
  const burstKey = makeApiKey('burst');

  beforeAll(async () => {
    if (store === 'redis') await redisAvailable(redisUrl, { flush: true });
    db = await createTestDatabase(kind);
    const raw = {
      clients: [{ ...testClients.web, redirect_uris: [redirectUri] }],
      connectors: [{ id: 'local', type: 'local', signup: true }],
      firstauth: { enable: true, mode: 'manual' },
      adminApi: { keys: [sequentialKey.entry, burstKey.entry] },
      security: {
        rateLimits: {
          store,
          signup: { max: limits.signup, window: '3m' },
          gate: { max: limits.gate, window: '2m' },
          admin: { max: limits.admin, window: '1m' },
        },
      },
      ...(store === 'redis' ? { redis: { url: redisUrl } } : {}),
    };
    // One after the other: the first migrates the database, the second finds it migrated.
    servers = [await startTestServer(db, raw, { clock })];
    servers.push(await startTestServer(db, raw, { clock }));
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
    await db?.drop();
  });

  /** Attempts alternate between the instances; returns the statuses in order. */
  async function alternate(count: number, attempt: (server: TestServer, n: number) => Promise<number>): Promise<number[]> {
    const statuses: number[] = [];
    for (let n = 0; n < count; n += 1) statuses.push(await attempt(servers[n % 2]!, n));
    return statuses;
  }

  /** The statuses expected of `count` alternating attempts: shared, max pass in total; alone, max on each. */
  function expected(count: number, max: number, passing: number): number[] {
    const seen = [0, 0];
    return Array.from({ length: count }, (_, n) => {
      const counted = shared ? n : (seen[n % 2] = seen[n % 2]! + 1) - 1;
      return counted < max ? passing : 429;
    });
  }

  const callAdmin = async (server: TestServer, key: string) => {
    const response = await fetch(`${server.url}/admin/api/users`, { headers: { accept: 'application/json', authorization: `Bearer ${key}` } });
    await response.arrayBuffer();
    return response;
  };

  it(`admin API calls of one caller: ${shared ? 'the 5th over both' : 'the 5th on each'} is 429 with Retry-After, and both take calls once the window has passed`, async () => {
    const count = shared ? limits.admin + 2 : 2 * limits.admin + 2;
    const statuses = await alternate(count, async (server) => (await callAdmin(server, sequentialKey.key)).status);
    expect(statuses).toEqual(expected(count, limits.admin, 200));
    const refused = await callAdmin(servers[1]!, sequentialKey.key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    if (store === 'redis') return; // Redis keeps its own time: its windows end on the wall clock.
    now += minute;
    expect((await callAdmin(servers[0]!, sequentialKey.key)).status).toBe(200);
    expect((await callAdmin(servers[1]!, sequentialKey.key)).status).toBe(200);
  });

  it(`counts 50 admin calls at once over both instances exactly: ${shared ? 'max pass in total' : 'max pass on each'}`, async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, n) => callAdmin(servers[n % 2]!, burstKey.key)));
    const passed = answers.filter((a) => a.status === 200).length;
    expect(passed).toBe(shared ? limits.admin : 2 * limits.admin);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(50 - passed);
  });

  it(`sign-ups from one IP: ${shared ? 'the 4th over both' : 'the 4th on each'} is 429`, async () => {
    const browsers = [new Browserless(), new Browserless()];
    const statuses = await alternate(shared ? limits.signup + 2 : 2 * limits.signup + 2, async (server, n) => {
      const browser = browsers[n % 2]!;
      const form = await browser.request(`${server.url}/signup`);
      const fields = { _csrf: csrfOf(await form.text()), email: `new${n}-${store}@example.com`, name: `New Person ${n}`, password: `password-of-new-${n}-xyz` };
      return (await browser.request(`${server.url}/signup`, { form: fields })).status;
    });
    expect(statuses).toEqual(expected(statuses.length, limits.signup, 200));
  });

  it(`invitation codes at the gate: ${shared ? 'the 4th over both' : 'the 4th on each'} is 429`, async () => {
    const who = { email: `gated-${store}@example.com`, password: 'password-of-gated-xyz' };
    await insertLocalAccount(servers[0]!.gh.db, {
      id: `gated-${store}`,
      email: who.email,
      name: 'Gated Person',
      password_hash: await servers[0]!.gh.passwords.hash(who.password),
      email_verified_at: clock.now(),
      created_at: clock.now(),
    });
    // A sign-in held at the gate on each instance.
    const atGate = await Promise.all(
      servers.map(async (server) => {
        const browser = new Browserless();
        const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
        const interaction = new URL((await browser.request(auth)).headers.get('location')!, server.url).href;
        const login = await browser.request(interaction);
        const gate = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await login.text()), email: who.email, password: who.password } });
        const html = await gate.text();
        expect(html).toContain('An invitation is needed');
        return { browser, interaction, csrf: csrfOf(html) };
      }),
    );
    const statuses = await alternate(shared ? limits.gate + 2 : 2 * limits.gate + 2, async (_server, n) => {
      const { browser, interaction, csrf } = atGate[n % 2]!;
      return (await browser.request(`${interaction}/token`, { form: { _csrf: csrf, acl_token: 'gha_wrong' } })).status;
    });
    expect(statuses).toEqual(expected(statuses.length, limits.gate, 404));
  });
});
