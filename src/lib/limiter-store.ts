/**
 * Where every limit counts (issue 14, SPEC 9 `security.rateLimits.store`): the
 * per-IP form limits, the password login throttle, the admin limit and the
 * rest. One store per Gatehouse instance, built in the composition root
 * (context.ts) and closed with it:
 *
 * - `database` (the default): a row per counted key in `rate_limit` of the
 *   Gatehouse database, so every instance on that database shares every limit.
 *   Each hit is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` (SQLite and
 *   PostgreSQL alike): the row is the lock, so hits of two instances at the same
 *   moment are counted exactly. Time comes from the injected clock.
 *   (rate-limiter-flexible's RateLimiterPostgres and RateLimiterSQLite read
 *   Date.now and create their own tables, so the windows are written here.)
 * - `redis`: rate-limiter-flexible's RateLimiterRedis over ioredis at `redis.url`,
 *   shared by every instance on that Redis. Time is the Redis server's (key expiry).
 * - `memory`: a map in this process, on the injected clock: each instance counts alone.
 *
 * A window is fixed from the first hit of a key: `max` hits within `windowMs`
 * of it pass, later ones are refused until the window ends (that is the
 * Retry-After), then the key counts from zero again. Refused hits are counted
 * too but never make the window longer.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { RateLimiterRedis } from 'rate-limiter-flexible';
import { GatehouseError } from '../errors.ts';
import type { Clock } from './clock.ts';

const requireLazily = createRequire(import.meta.url);

export type LimiterStoreKind = 'database' | 'memory' | 'redis';

/** A key's count in its current window, and how long that window still runs. */
export interface Counted {
  count: number;
  remainingMs: number;
}

export interface HitOptions {
  /**
   * Every hit restarts the window (the key is forgotten `windowMs` after its
   * last hit, not its first): runs of failures, IPs an account signed in from.
   */
  renew?: boolean;
}

/** The counters under every limit. Keys are the callers' (Limiter prefixes its name). */
export interface LimiterStore {
  readonly kind: LimiterStoreKind;
  /** Counts one hit of `key` and returns the count after it. */
  incr(key: string, windowMs: number, options?: HitOptions): Promise<Counted>;
  /** The count in the current window, undefined when it has none. */
  peek(key: string): Promise<Counted | undefined>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** The answer to one hit: whether it is within the limit, and (when the limit is reached) how long until it is not. */
export interface HitResult {
  allowed: boolean;
  retryAfterMs: number;
}

/**
 * One limit: `max` hits per key within `windowMs`, counted in `store` under
 * `name` (the same name on every instance shares the count).
 */
export class Limiter {
  constructor(
    private readonly store: LimiterStore,
    readonly name: string,
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Records one hit; `allowed` when it was still within the limit. */
  async hit(key: string): Promise<HitResult> {
    const { count, remainingMs } = await this.store.incr(this.key(key), this.windowMs);
    return { allowed: count <= this.max, retryAfterMs: count >= this.max ? Math.max(0, remainingMs) : 0 };
  }

  /** True while `key` is below its limit (the next hit would be allowed). */
  async allows(key: string): Promise<boolean> {
    return (await this.count(key)) < this.max;
  }

  /** Hits of `key` in its current window. */
  async count(key: string): Promise<number> {
    return (await this.state(key)).count;
  }

  /** How long until `key` is below its limit again (0 when it is now). */
  async retryAfterMs(key: string): Promise<number> {
    return (await this.state(key)).retryAfterMs;
  }

  /** Hits of `key` in its current window and how long until it is below its limit again, from one read. */
  async state(key: string): Promise<{ count: number; retryAfterMs: number }> {
    const counted = await this.store.peek(this.key(key));
    return { count: counted?.count ?? 0, retryAfterMs: counted && counted.count >= this.max ? Math.max(0, counted.remainingMs) : 0 };
  }

  async reset(key: string): Promise<void> {
    await this.store.delete(this.key(key));
  }

  private key(key: string): string {
    return `${this.name}:${key}`;
  }
}

const maxMemoryKeys = 50_000;

/** Counts in this process only, on the injected clock. */
export class MemoryLimiterStore implements LimiterStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { count: number; endsAt: number }>();

  constructor(private readonly clock: Clock) {}

  incr(key: string, windowMs: number, options: HitOptions = {}): Promise<Counted> {
    const now = this.clock.now();
    const entry = this.live(key, now);
    const next = entry ? { count: entry.count + 1, endsAt: options.renew ? now + windowMs : entry.endsAt } : { count: 1, endsAt: now + windowMs };
    this.entries.set(key, next);
    if (this.entries.size > maxMemoryKeys) this.prune(now);
    return Promise.resolve({ count: next.count, remainingMs: next.endsAt - now });
  }

  peek(key: string): Promise<Counted | undefined> {
    const now = this.clock.now();
    const entry = this.live(key, now);
    return Promise.resolve(entry && { count: entry.count, remainingMs: entry.endsAt - now });
  }

  delete(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }

  private live(key: string, now: number): { count: number; endsAt: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.endsAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (entry.endsAt <= now) this.entries.delete(key);
  }
}

export interface DatabaseStoreOptions {
  /** Expired rows are deleted every this many hits (of this instance), at most once per `pruneIntervalMs`. */
  pruneEvery?: number;
  /** The least time between two deletions of expired rows by this instance (default a minute; each reads the whole table). */
  pruneIntervalMs?: number;
  /** How long after its window ended a row is still kept (default 10 minutes), so a key that comes back updates its row instead of inserting a new one. */
  keepEndedMs?: number;
  /**
   * Runs the counting statement (an upsert with RETURNING) and gives its rows;
   * by default through knex. The composition root passes the database's fast
   * path (db/sqlite-statements.ts: SQLite commits it with the other writes of
   * the same moment).
   */
  countStatement?: (sql: string, bindings: readonly unknown[]) => Promise<unknown>;
  /** Runs a read (`peek`) and gives its rows; by default through knex (the composition root passes the fast path). */
  readStatement?: (sql: string, bindings: readonly unknown[]) => Promise<unknown>;
}

/** Expired rows are deleted every this many hits (of this instance)... */
const pruneEvery = 1000;
/** ...and at most once a minute: the table has no index on `ends_at` (every hit moves it), so a deletion reads the whole table. */
const pruneIntervalMs = 60_000;
/**
 * Rows are deleted this long after their window ended, not at once: a key that
 * comes back within it (a device polling every few seconds, the same IP) finds
 * its row and counts from 1 again in place. Deleting at once made most hits of
 * such keys an insert, and each prune a delete of those rows (a device poll's
 * counting statement 11 µs against 5 µs, micro-benchmark).
 */
const keepEndedMs = 10 * 60 * 1000;

/** A new key starts at 1; a live one counts on (renewing its end when asked); an ended one starts over. Two constant statements, prepared once. */
const countStatementFor = (kept: string) => `insert into rate_limit (name, hits, ends_at) values (?, 1, ?)
  on conflict (name) do update set
    hits = case when rate_limit.ends_at <= ? then 1 else rate_limit.hits + 1 end,
    ends_at = case when rate_limit.ends_at <= ? then excluded.ends_at else ${kept} end
  returning hits, ends_at`;
const countSql = countStatementFor('rate_limit.ends_at');
const countRenewingSql = countStatementFor('excluded.ends_at');

/** Counts in the `rate_limit` table (migrations/20261201200000_create_rate_limits.ts), on the injected clock. */
export class DatabaseLimiterStore implements LimiterStore {
  readonly kind = 'database' as const;
  private hits = 0;
  private pruning: Promise<unknown> | undefined;
  private prunedAt = -Infinity;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly options: DatabaseStoreOptions = {},
  ) {}

  async incr(key: string, windowMs: number, options: HitOptions = {}): Promise<Counted> {
    const now = this.clock.now();
    const endsAt = now + windowMs;
    // One statement: a new key starts at 1; a live one counts on (renewing its end when asked); an ended one starts over.
    const run = this.options.countStatement ?? ((sql: string, bindings: readonly unknown[]) => this.db.raw(sql, [...bindings] as Knex.RawBinding[]));
    const result: unknown = await run(options.renew ? countRenewingSql : countSql, [storedKey(key), endsAt, now, now]);
    const row = rowsOf(result)[0];
    if (!row) throw new Error('rate_limit: the counting statement returned no row');
    if (++this.hits % (this.options.pruneEvery ?? pruneEvery) === 0) this.prune(now);
    return { count: Number(row.hits), remainingMs: Number(row.ends_at) - now };
  }

  async peek(key: string): Promise<Counted | undefined> {
    const now = this.clock.now();
    const read = this.options.readStatement;
    const row = read
      ? rowsOf(await read('select hits, ends_at from rate_limit where name = ? and ends_at > ? limit 1', [storedKey(key), now]))[0]
      : ((await this.db('rate_limit')
          .where({ name: storedKey(key) })
          .where('ends_at', '>', now)
          .first('hits', 'ends_at')) as Row | undefined);
    return row && { count: Number(row.hits), remainingMs: Number(row.ends_at) - now };
  }

  async delete(key: string): Promise<void> {
    if (this.options.countStatement) {
      await this.options.countStatement('delete from rate_limit where name = ?', [storedKey(key)]);
      return;
    }
    await this.db('rate_limit')
      .where({ name: storedKey(key) })
      .delete();
  }

  /** How many rows the table holds (for tests: rows of ended windows go every `pruneEvery` hits of an instance). */
  async rows(): Promise<number> {
    const [row] = (await this.db('rate_limit').count({ n: '*' })) as Array<{ n: number | string }>;
    return Number(row?.n ?? 0);
  }

  /** The database itself is closed by its owner (Gatehouse.close); this waits for a pruning under way. */
  async close(): Promise<void> {
    await this.pruning;
  }

  private prune(now: number): void {
    if (this.pruning || now - this.prunedAt < (this.options.pruneIntervalMs ?? pruneIntervalMs)) return;
    this.prunedAt = now;
    this.pruning = this.db('rate_limit')
      .where('ends_at', '<=', now - (this.options.keepEndedMs ?? keepEndedMs))
      .delete()
      .catch(() => undefined)
      .finally(() => (this.pruning = undefined));
  }
}

interface Row {
  hits: number | string;
  ends_at: number | string;
}

/** knex.raw's answer: pg's result has `rows`, better-sqlite3's is the rows. */
function rowsOf(result: unknown): Row[] {
  if (Array.isArray(result)) return result as Row[];
  return (result as { rows: Row[] }).rows;
}

/** Keys name accounts and IPs: long ones are stored as their SHA-256 (the column holds 255). */
function storedKey(key: string): string {
  return key.length <= 200 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * Counts in Redis, through rate-limiter-flexible's RateLimiterRedis (one per
 * window length, its atomic INCR-and-expire script); renewed windows use a
 * PEXPIRE after the INCR. Time is the Redis server's.
 */
export class RedisLimiterStore implements LimiterStore {
  readonly kind = 'redis' as const;
  private readonly limiters = new Map<number, RateLimiterRedis>();
  private readonly prefix = 'gatehouse:limit';
  /** The last connection error since Redis was last ready (set by `connect`), for readiness. */
  private failure: string | undefined;

  constructor(readonly client: Redis) {}

  /**
   * `onError` hears the first connection error after each time Redis was
   * reachable (ioredis reconnects by itself and would repeat it every attempt).
   */
  static connect(url: string, onError: (err: Error) => void = () => undefined): RedisLimiterStore {
    // Loaded only when Redis is the store (ioredis and rate-limiter-flexible weigh ~8 MB of memory).
    const { Redis: RedisClient } = requireLazily('ioredis') as typeof import('ioredis');
    const client = new RedisClient(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
    const store = new RedisLimiterStore(client);
    let told = false;
    client.on('ready', () => {
      told = false;
      store.failure = undefined;
    });
    client.on('error', (err: Error) => {
      store.failure = err.message;
      if (!told) onError(err);
      told = true;
    });
    return store;
  }

  /**
   * Whether Redis answers now, for `/readyz`: undefined when it does, else why
   * not. Bounded by `timeoutMs`: while the connection is known to be down
   * (an error since it was last ready) it answers at once from that error,
   * without a round trip; otherwise one PING (queued while a first connection
   * is still being made).
   */
  async unreachable(timeoutMs: number): Promise<string | undefined> {
    if (this.client.status !== 'ready' && this.failure !== undefined) return this.failure;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(this.failure ?? `no answer to PING within ${timeoutMs} ms`), timeoutMs);
    });
    const ping = this.client.ping().then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  incr(key: string, windowMs: number, options: HitOptions = {}): Promise<Counted> {
    return reachable(this.count(key, windowMs, options));
  }

  peek(key: string): Promise<Counted | undefined> {
    return reachable(this.look(key));
  }

  delete(key: string): Promise<void> {
    return reachable(this.client.del(this.fullKey(key)).then(() => undefined));
  }

  private async count(key: string, windowMs: number, options: HitOptions): Promise<Counted> {
    if (options.renew) {
      const full = this.fullKey(key);
      const replies = await this.client.multi().incr(full).pexpire(full, windowMs).exec();
      return { count: Number(replies?.[0]?.[1] ?? 0), remainingMs: windowMs };
    }
    // points: as many as a key can be hit; the limit is decided by Limiter, the count is what is wanted here.
    const res = await this.limiter(windowMs).consume(key, 1);
    return { count: res.consumedPoints, remainingMs: res.msBeforeNext };
  }

  private async look(key: string): Promise<Counted | undefined> {
    const full = this.fullKey(key);
    const replies = await this.client.multi().get(full).pttl(full).exec();
    const value = replies?.[0]?.[1];
    const ttl = Number(replies?.[1]?.[1] ?? -2);
    if (value === null || value === undefined || ttl === -2) return undefined;
    const count = Number(value);
    return count > 0 ? { count, remainingMs: ttl < 0 ? 0 : ttl } : undefined;
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private limiter(windowMs: number): RateLimiterRedis {
    let limiter = this.limiters.get(windowMs);
    if (!limiter) {
      const { RateLimiterRedis: Limiter } = requireLazily('rate-limiter-flexible') as typeof import('rate-limiter-flexible');
      limiter = new Limiter({
        storeClient: this.client,
        keyPrefix: this.prefix,
        points: Number.MAX_SAFE_INTEGER,
        duration: Math.max(1, Math.ceil(windowMs / 1000)),
      });
      this.limiters.set(windowMs, limiter);
    }
    return limiter;
  }

  /** RateLimiterRedis's own key for `key` (keyPrefix:key). */
  private fullKey(key: string): string {
    return `${this.prefix}:${key}`;
  }
}

/**
 * Redis down (or answering with an error): `database.unavailable`, a 503 with
 * Retry-After, as when the database is. A limit that cannot be counted is not
 * waved through.
 */
async function reachable<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new GatehouseError('database.unavailable', 'Gatehouse cannot count attempts right now (its Redis does not answer). Try again in a moment.', {
      cause: err instanceof Error ? err.message : String(err),
    });
  }
}

export interface LimiterStoreSettings {
  store: LimiterStoreKind;
  redisUrl?: string | undefined;
}

/** The store `security.rateLimits.store` names (config/schema.ts checks that `redis` comes with `redis.url`). */
export function createLimiterStore(
  settings: LimiterStoreSettings,
  db: Knex,
  clock: Clock,
  onRedisError?: (err: Error) => void,
  databaseOptions: DatabaseStoreOptions = {},
): LimiterStore {
  switch (settings.store) {
    case 'memory':
      return new MemoryLimiterStore(clock);
    case 'redis':
      if (!settings.redisUrl) throw new Error('security.rateLimits.store: redis needs redis.url');
      return RedisLimiterStore.connect(settings.redisUrl, onRedisError);
    case 'database':
      return new DatabaseLimiterStore(db, clock, databaseOptions);
  }
}
