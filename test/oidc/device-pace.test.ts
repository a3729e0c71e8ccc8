/**
 * The device grant's pace (RFC 8628 §3.5, src/oidc/device-polling.ts) is
 * counted in the limiter store, so two Gatehouse instances on one database
 * (SQLite file, PostgreSQL) or one Redis pace a device alike: a device polling
 * them in turn within the interval gets `slow_down` at the second, the
 * interval grows by 5 s at every slow_down wherever it was answered, and once
 * the interval has passed (the injected clock is moved, never waited for) the
 * answer is `authorization_pending` again. The poll that ends a code
 * (access_denied, expired_token) deletes its keys. A store that cannot be
 * reached lets every poll through, and says so in the log once. Redis at
 * 127.0.0.1:6379 (its database 9; skipped loudly when missing): Redis keeps
 * its own time, so there the windows are looked at, not waited for.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/lib/logger.ts';
import { MemoryLimiterStore, RedisLimiterStore, type LimiterStore } from '../../src/lib/limiter-store.ts';
import { PollingPace } from '../../src/oidc/device-polling.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { answerDeviceCode, startDeviceAuthorization } from '../helpers/device-approval.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { redisAvailable } from '../helpers/services.ts';

const testRedisUrl = process.env.GATEHOUSE_TEST_REDIS_PACE ?? 'redis://127.0.0.1:6379/9';
const second = 1000;

function movableClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** A pino logger whose lines are kept (parsed) instead of printed. */
function keptLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}
const warnings = (lines: Array<{ level: number; msg: string }>) => lines.filter((l) => l.level === 40 && l.msg.startsWith('device polling pace'));

const hashOf = (deviceCode: string) => createHash('sha256').update(deviceCode).digest('base64url');

interface Instances {
  one: TestServer;
  two: TestServer;
}

/** Where this instance itself listens (`url` is the issuer, the first instance's). */
const at = (server: TestServer) => `http://127.0.0.1:${server.port}`;

function startDevice(server: TestServer) {
  return startDeviceAuthorization(at(server));
}

async function poll(server: TestServer, deviceCode: string): Promise<string | undefined> {
  const res = await fetch(`${at(server)}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'tv', grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
  });
  const body = (await res.json()) as { error?: string };
  return body.error;
}

/** Two instances on one database behind one issuer (the second answers for the first's issuer, as behind a balancer). */
async function twoInstances(db: TestDatabase, raw: Record<string, unknown>, clock?: ReturnType<typeof movableClock>): Promise<Instances> {
  const settings = { clients: [testClients.tv], ...raw };
  const one = await startTestServer(db, settings, clock ? { clock } : {});
  const two = await startTestServer(db, { ...settings, issuer: one.url }, clock ? { clock } : {});
  return { one, two };
}

for (const kind of databaseKinds) {
  describe(`the device polling pace of two instances on one ${kind} database`, () => {
    let db: TestDatabase;
    let servers: Instances;
    const clock = movableClock();

    beforeAll(async () => {
      db = await createTestDatabase(kind);
      servers = await twoInstances(db, { security: { devicePollInterval: '5s' } }, clock);
    });
    afterEach(() => {
      vi.useRealTimers();
    });
    afterAll(async () => {
      await servers?.two.stop();
      await servers?.one.stop();
      await db?.drop();
    });

    const paceRows = async (deviceCode: string) =>
      (
        await servers.one.gh
          .db('rate_limit')
          .where('name', 'like', `device.%${hashOf(deviceCode)}%`)
          .select('name')
      )
        .map((r: { name: string }) => r.name)
        .sort();

    it('lets a device that keeps the interval poll both in turn', async () => {
      const { device_code } = await startDevice(servers.one);
      for (let i = 0; i < 4; i += 1) {
        expect(await poll(i % 2 ? servers.two : servers.one, device_code)).toBe('authorization_pending');
        clock.advance(5 * second);
      }
      // One row: the level-0 window of this code.
      expect(await paceRows(device_code)).toEqual([`device.pace:${hashOf(device_code)}:0`]);
    });

    it('answers slow_down at the second within the interval, grows the interval by 5 s there and here, and lets it poll again after it', async () => {
      const { device_code } = await startDevice(servers.one);
      expect(await poll(servers.one, device_code)).toBe('authorization_pending');
      clock.advance(1 * second);
      expect(await poll(servers.two, device_code)).toBe('slow_down');
      // 9 s after that slow_down: past the first 5 s, not the 10 s it grew to, and the first instance knows it.
      clock.advance(9 * second);
      expect(await poll(servers.one, device_code)).toBe('slow_down');
      // Now 15 s, from that slow_down on.
      clock.advance(15 * second - 1);
      expect(await poll(servers.two, device_code)).toBe('slow_down');
      // That was the third: 20 s, also at the first instance, which did not answer it.
      clock.advance(20 * second);
      expect(await poll(servers.one, device_code)).toBe('authorization_pending');
      // It stays 20 s (it does not fall back to 5 s), at both.
      clock.advance(10 * second);
      expect(await poll(servers.one, device_code)).toBe('slow_down');
      clock.advance(25 * second);
      expect(await poll(servers.one, device_code)).toBe('authorization_pending');
      clock.advance(25 * second);
      expect(await poll(servers.two, device_code)).toBe('authorization_pending');
      const [slowDowns] = await servers.one.gh
        .db('rate_limit')
        .where({ name: `device.slowDowns:${hashOf(device_code)}` })
        .select('hits');
      expect(Number((slowDowns as { hits: number | string }).hits)).toBe(4);
    });

    it('forgets the keys of a code at the poll that ends it (access_denied, expired_token)', async () => {
      const denied = await startDevice(servers.one);
      expect(await poll(servers.one, denied.device_code)).toBe('authorization_pending');
      expect(await poll(servers.two, denied.device_code)).toBe('slow_down');
      expect((await paceRows(denied.device_code)).length).toBeGreaterThan(1);
      await answerDeviceCode(servers.one.url, denied.user_code, 'cancel', { email: '', password: '' });
      clock.advance(10 * second);
      expect(await poll(servers.one, denied.device_code)).toBe('access_denied');
      expect(await paceRows(denied.device_code)).toEqual([]);

      const expired = await startDevice(servers.two);
      expect(await poll(servers.two, expired.device_code)).toBe('authorization_pending');
      expect(await paceRows(expired.device_code)).toHaveLength(1);
      clock.advance(601 * second);
      // oidc-provider checks the code's lifetime against Date.now() (only Date is faked).
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 601_000);
      expect(await poll(servers.one, expired.device_code)).toBe('expired_token');
      expect(await paceRows(expired.device_code)).toEqual([]);
    });
  });
}

describe.runIf(await redisAvailable(testRedisUrl))('the device polling pace of two instances on one Redis', () => {
  let db: TestDatabase;
  let servers: Instances;
  let redis: Redis;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    servers = await twoInstances(db, { security: { devicePollInterval: '5s', rateLimits: { store: 'redis' } }, redis: { url: testRedisUrl } });
    redis = new Redis(testRedisUrl);
  });
  afterAll(async () => {
    redis?.disconnect();
    await servers?.two.stop();
    await servers?.one.stop();
    await db?.drop();
  });

  it('answers slow_down at the second within the interval, and the grown interval holds at both', async () => {
    expect(servers.one.gh.limiterStore.kind).toBe('redis');
    const { device_code, user_code } = await startDevice(servers.one);
    const key = (name: string) => `gatehouse:limit:device.${name}`;
    const hash = hashOf(device_code);
    expect(await poll(servers.one, device_code)).toBe('authorization_pending');
    expect(await redis.pttl(key(`pace:${hash}:0`))).toBeGreaterThan(4 * second);
    expect(await poll(servers.two, device_code)).toBe('slow_down');
    // Level 1 (10 s) opened at that slow_down; level 0 retired (kept as long as a code lives).
    expect(await redis.get(key(`slowDowns:${hash}`))).toBe('1');
    const levelOne = await redis.pttl(key(`pace:${hash}:1`));
    expect(levelOne).toBeGreaterThan(9 * second);
    expect(levelOne).toBeLessThanOrEqual(10 * second);
    expect(await redis.pttl(key(`pace:${hash}:0`))).toBeGreaterThan(600 * second);
    // The first instance did not answer that slow_down, and still paces the device at 10 s.
    expect(await poll(servers.one, device_code)).toBe('slow_down');
    expect(await redis.get(key(`slowDowns:${hash}`))).toBe('2');
    expect(await redis.pttl(key(`pace:${hash}:2`))).toBeGreaterThan(14 * second);
    // Its end: cancelled at the page, access_denied at the next poll (Redis's 15 s are not waited for: the
    // pace key is deleted, as if its window had ended), and every key of the code is gone.
    await answerDeviceCode(servers.one.url, user_code, 'cancel', { email: '', password: '' });
    await redis.del(key(`pace:${hash}:2`));
    expect(await poll(servers.two, device_code)).toBe('access_denied');
    expect(await redis.keys(`gatehouse:limit:device.*${hash}*`)).toEqual([]);
  });
});

describe('the device polling pace of two instances at the same moment', () => {
  it('counts two slow_downs answered at once twice, as the device was told twice', async () => {
    const clock = movableClock();
    const store = new MemoryLimiterStore(clock);
    const one = new PollingPace(store, { intervalSec: 5 });
    const two = new PollingPace(store, { intervalSec: 5 });
    await one.check('device-code-2');
    clock.advance(1 * second);
    const answers = await Promise.allSettled([one.check('device-code-2'), two.check('device-code-2')]);
    expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected']);
    expect((await store.peek(`device.slowDowns:${hashOf('device-code-2')}`))?.count).toBe(2);
    // 15 s from then on, at both: 10 s later (what one slow_down would make it) is still too soon.
    clock.advance(10 * second);
    await expect(one.check('device-code-2')).rejects.toMatchObject({ error: 'slow_down' });
    clock.advance(20 * second);
    await expect(two.check('device-code-2')).resolves.toBeUndefined();
  });
});

describe('the device polling pace without its store', () => {
  const down: LimiterStore = {
    kind: 'database',
    incr: () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')),
    peek: () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')),
    delete: () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')),
    close: () => Promise.resolve(),
  };

  it('lets every poll through (no slow_down) and warns once, then again after it recovered and failed anew', async () => {
    const { logger, lines } = keptLogger();
    let failing = true;
    const clock = movableClock();
    const memory = new MemoryLimiterStore(clock);
    const flaky: LimiterStore = {
      kind: 'memory',
      incr: (...args) => (failing ? down.incr(...args) : memory.incr(...args)),
      peek: (...args) => (failing ? down.peek(...args) : memory.peek(...args)),
      delete: (...args) => (failing ? down.delete(...args) : memory.delete(...args)),
      close: () => Promise.resolve(),
    };
    const pace = new PollingPace(flaky, { intervalSec: 5, logger });
    for (let i = 0; i < 3; i += 1) await expect(pace.check('device-code-1')).resolves.toBeUndefined();
    await pace.forget('device-code-1');
    expect(pace.unpaced).toBe(true);
    expect(warnings(lines)).toHaveLength(1);
    expect(warnings(lines)[0]!.msg).toContain('cannot be reached; device polls pass without slow_down');
    failing = false;
    await expect(pace.check('device-code-1')).resolves.toBeUndefined();
    await expect(pace.check('device-code-1')).rejects.toMatchObject({ error: 'slow_down' });
    expect(pace.unpaced).toBe(false);
    failing = true;
    await expect(pace.check('device-code-1')).resolves.toBeUndefined();
    expect(warnings(lines)).toHaveLength(2);
  });

  it('lets polls through with Redis unreachable, at the token endpoint', async () => {
    const db = await createTestDatabase('sqlite');
    const { logger, lines } = keptLogger();
    const server = await startTestServer(
      db,
      { clients: [testClients.tv], security: { rateLimits: { store: 'redis' } }, redis: { url: 'redis://127.0.0.1:1/0' } },
      { logger },
    );
    try {
      expect(server.gh.limiterStore).toBeInstanceOf(RedisLimiterStore);
      const { device_code } = await startDevice(server);
      for (let i = 0; i < 3; i += 1) expect(await poll(server, device_code)).toBe('authorization_pending');
      expect(warnings(lines)).toHaveLength(1);
    } finally {
      await server.stop();
      await db.drop();
    }
  });
});
