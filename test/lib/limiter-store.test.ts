/**
 * The three limiter stores (src/lib/limiter-store.ts) count alike: `max` hits
 * per key pass, the next is refused with the time left of the window (from the
 * first hit), the window ends and the key counts from zero, `reset` forgets
 * it, and a renewed key lives `windowMs` from its last hit. The database store
 * on SQLite and PostgreSQL, and Redis (127.0.0.1:6379, its database 8, emptied
 * first; skipped loudly when missing, a failure under CI=true). Two stores on
 * the same database (or Redis) are two instances: 50 hits at once split over
 * them are counted exactly, once each. Time moves on the injected clock (Redis
 * keeps its own: its windows are not waited for).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabase } from '../../src/db/flavor.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import {
  DatabaseLimiterStore,
  Limiter,
  MemoryLimiterStore,
  RedisLimiterStore,
  type DatabaseStoreOptions,
  type LimiterStore,
} from '../../src/lib/limiter-store.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { redisAvailable } from '../helpers/services.ts';

const minute = 60_000;
const testRedisUrl = process.env.GATEHOUSE_TEST_REDIS ?? 'redis://127.0.0.1:6379/8';

function movableClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

interface Stores {
  /** Two instances' stores over the same counts (for memory: one store, used twice). */
  one: LimiterStore;
  two: LimiterStore;
  clock: ReturnType<typeof movableClock> | undefined;
  close(): Promise<void>;
}

let names = 0;
/** A limit name no earlier run used (Redis keeps counts between runs until they expire). */
const fresh = (what: string) => `${what}-${process.pid}-${Date.now()}-${(names += 1)}`;

function storeBehaviour(kind: string, open: () => Promise<Stores>, shared: boolean) {
  describe(`the ${kind} limiter store`, () => {
    let stores: Stores;
    beforeAll(async () => {
      stores = await open();
    });
    afterAll(async () => {
      await stores?.close();
    });

    it('lets max hits through, refuses the next with the rest of the window, and counts them', async () => {
      const limit = new Limiter(stores.one, fresh('form'), 3, 15 * minute);
      expect(await limit.allows('10.0.0.1')).toBe(true);
      const results = [];
      for (let i = 0; i < 4; i += 1) results.push(await limit.hit('10.0.0.1'));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
      expect(results[0]!.retryAfterMs).toBe(0);
      // The third hit reaches the limit: from then on the answer says how long the window still runs.
      for (const r of results.slice(2)) {
        expect(r.retryAfterMs).toBeGreaterThan(15 * minute - 5000);
        expect(r.retryAfterMs).toBeLessThanOrEqual(15 * minute);
      }
      expect(await limit.count('10.0.0.1')).toBe(4);
      expect(await limit.allows('10.0.0.1')).toBe(false);
      expect(await limit.retryAfterMs('10.0.0.1')).toBeGreaterThan(15 * minute - 5000);
      // Another key is not touched.
      expect(await limit.allows('10.0.0.2')).toBe(true);
      expect(await limit.retryAfterMs('10.0.0.2')).toBe(0);
      await limit.reset('10.0.0.1');
      expect(await limit.count('10.0.0.1')).toBe(0);
      expect((await limit.hit('10.0.0.1')).allowed).toBe(true);
    });

    it.skipIf(kind === 'redis')('ends the window windowMs after the first hit, on the injected clock', async () => {
      const clock = stores.clock!;
      const limit = new Limiter(stores.one, fresh('window'), 2, 15 * minute);
      await limit.hit('ip');
      clock.advance(5 * minute);
      await limit.hit('ip');
      const refused = await limit.hit('ip');
      expect(refused).toEqual({ allowed: false, retryAfterMs: 10 * minute });
      // Refused hits do not make the window longer.
      clock.advance(10 * minute - 1);
      expect(await limit.retryAfterMs('ip')).toBe(1);
      expect((await limit.hit('ip')).allowed).toBe(false);
      clock.advance(1);
      expect(await limit.count('ip')).toBe(0);
      expect(await limit.retryAfterMs('ip')).toBe(0);
      expect(await limit.hit('ip')).toEqual({ allowed: true, retryAfterMs: 0 });
    });

    it.skipIf(kind === 'redis')('keeps a renewed key windowMs from its last hit', async () => {
      const clock = stores.clock!;
      const key = `${fresh('run')}:ada@example.com`;
      await stores.one.incr(key, 24 * 60 * minute, { renew: true });
      clock.advance(20 * 60 * minute);
      expect(await stores.one.incr(key, 24 * 60 * minute, { renew: true })).toEqual({ count: 2, remainingMs: 24 * 60 * minute });
      clock.advance(20 * 60 * minute);
      expect(await stores.two.peek(key)).toEqual({ count: 2, remainingMs: 4 * 60 * minute });
      clock.advance(4 * 60 * minute);
      expect(await stores.two.peek(key)).toBeUndefined();
    });

    it('renews a key at each hit (Redis too)', async () => {
      const key = `${fresh('known')}:ada@example.com\n192.0.2.1`;
      expect((await stores.one.incr(key, 30 * 1440 * minute, { renew: true })).count).toBe(1);
      expect((await stores.two.incr(key, 30 * 1440 * minute, { renew: true })).count).toBe(2);
      const seen = await stores.one.peek(key);
      expect(seen?.count).toBe(2);
      expect(seen!.remainingMs).toBeGreaterThan(30 * 1440 * minute - 5000);
      await stores.two.delete(key);
      expect(await stores.one.peek(key)).toBeUndefined();
    });

    it(`counts 50 hits at once exactly${shared ? ', split over two instances' : ''}`, async () => {
      const name = fresh('burst');
      const one = new Limiter(stores.one, name, 20, 15 * minute);
      const two = new Limiter(stores.two, name, 20, 15 * minute);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? one : two).hit('198.51.100.1')));
      expect(results.filter((r) => r.allowed)).toHaveLength(20);
      expect(await one.count('198.51.100.1')).toBe(50);
      expect(await two.count('198.51.100.1')).toBe(50);
      // Once reached, the limit is the same on both.
      expect(await one.allows('198.51.100.1')).toBe(false);
      expect(await two.allows('198.51.100.1')).toBe(false);
    });

    it('keeps keys longer than the column apart (stored as their SHA-256)', async () => {
      const limit = new Limiter(stores.one, fresh('long'), 1, minute);
      const long = 'x'.repeat(300);
      expect((await limit.hit(`${long}a`)).allowed).toBe(true);
      expect((await limit.hit(`${long}b`)).allowed).toBe(true);
      expect((await limit.hit(`${long}a`)).allowed).toBe(false);
    });
  });
}

storeBehaviour(
  'memory',
  async () => {
    const clock = movableClock();
    const store = new MemoryLimiterStore(clock);
    return { one: store, two: store, clock, close: () => store.close() };
  },
  false,
);

for (const kind of databaseKinds) {
  storeBehaviour(
    `database (${kind})`,
    async () => {
      const db: TestDatabase = await createTestDatabase(kind);
      const first: Db = createKnex(db.config);
      await migrateLatest(first);
      const second: Db = createKnex(db.config);
      const clock = movableClock();
      const one = new DatabaseLimiterStore(first, clock);
      const two = new DatabaseLimiterStore(second, clock);
      return {
        one,
        two,
        clock,
        close: async () => {
          await Promise.all([one.close(), two.close()]);
          await Promise.all([closeDatabase(first), closeDatabase(second)]);
          await db.drop();
        },
      };
    },
    true,
  );
}

if (await redisAvailable(testRedisUrl)) {
  storeBehaviour(
    'redis',
    async () => {
      const one = RedisLimiterStore.connect(testRedisUrl);
      await one.client.flushdb();
      const two = RedisLimiterStore.connect(testRedisUrl);
      return { one, two, clock: undefined, close: async () => void (await Promise.all([one.close(), two.close()])) };
    },
    true,
  );
}

describe.each(databaseKinds)('the database store on %s', (kind) => {
  /** A store on a fresh migrated database with its own clock; the database goes when `work` is done. */
  const withStore = async (options: DatabaseStoreOptions, work: (store: DatabaseLimiterStore, clock: ReturnType<typeof movableClock>) => Promise<void>) => {
    const db = await createTestDatabase(kind);
    const knex = createKnex(db.config);
    try {
      await migrateLatest(knex);
      const clock = movableClock();
      await work(new DatabaseLimiterStore(knex, clock, options), clock);
    } finally {
      await closeDatabase(knex);
      await db.drop();
    }
  };

  it('deletes the rows of windows ended longer ago than keepEndedMs, from time to time (here every 3rd hit)', () =>
    withStore({ pruneEvery: 3, keepEndedMs: minute, pruneIntervalMs: 0 }, async (store, clock) => {
      await store.incr('a', minute);
      await store.incr('b', 10 * minute);
      expect(await store.rows()).toBe(2);
      // a's window has just ended: its row is kept (a key that comes back updates it in place)...
      clock.advance(minute);
      await store.incr('c', minute);
      await store.close();
      expect(await store.rows()).toBe(3);
      expect(await store.peek('a')).toBeUndefined();
      // ...and counts from 1 again when it does.
      expect((await store.incr('a', minute)).count).toBe(1);
      // Once ended longer ago than keepEndedMs, rows go (a's and c's here; b's window still runs).
      clock.advance(2 * minute + 1);
      await store.incr('b', minute);
      await store.incr('d', minute);
      await store.close();
      expect(await store.rows()).toBe(2);
      expect((await store.peek('b'))?.count).toBe(2);
      expect(await store.peek('c')).toBeUndefined();
    }));

  it('deletes ended rows at most once per pruneIntervalMs (each deletion reads the whole table)', () =>
    withStore({ pruneEvery: 1, keepEndedMs: 0 }, async (store, clock) => {
      await store.incr('a', 10_000);
      await store.close();
      clock.advance(20_000);
      await store.incr('b', 10_000);
      await store.close();
      // a's window ended 10 s ago, but the last deletion was 20 s ago: not yet.
      expect(await store.rows()).toBe(2);
      clock.advance(41_000);
      await store.incr('c', 10_000);
      await store.close();
      expect(await store.rows()).toBe(1);
      expect((await store.peek('c'))?.count).toBe(1);
    }));
});

describe('the redis store without Redis', () => {
  it('answers database.unavailable (503), not a count, and tells the log once', async () => {
    const told: Error[] = [];
    const store = RedisLimiterStore.connect('redis://127.0.0.1:1/0', (err) => told.push(err));
    try {
      await expect(new Limiter(store, 'signup', 1, minute).hit('ip')).rejects.toMatchObject({ code: 'database.unavailable' });
      await expect(new Limiter(store, 'signup', 1, minute).count('ip')).rejects.toMatchObject({ code: 'database.unavailable' });
      expect(told).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

describe('the memory store', () => {
  it('counts per instance: another store does not see its hits', async () => {
    const clock = movableClock();
    const one = new Limiter(new MemoryLimiterStore(clock), 'signup', 1, minute);
    const two = new Limiter(new MemoryLimiterStore(clock), 'signup', 1, minute);
    expect((await one.hit('ip')).allowed).toBe(true);
    expect((await two.hit('ip')).allowed).toBe(true);
    expect((await one.hit('ip')).allowed).toBe(false);
  });
});
