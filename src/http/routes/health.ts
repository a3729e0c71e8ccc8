/**
 * `/healthz` (liveness: the process answers, whatever the database does), `/readyz`
 * (readiness: database reachable and migrations applied, else 503), `/metrics`.
 *
 * `/readyz` also tells the state of the limit store (`security.rateLimits.store`,
 * lib/limiter-store.ts) under `limits`: `{ store, ok }`, with a `message` when
 * it is down. A Redis store that does not answer leaves the instance ready
 * (200): sign-in attempts and the other limited requests answer 503 until it
 * is back, but protocol traffic goes on (device polls pass without slow_down),
 * and every instance shares that Redis, so taking them out of the load balancer
 * would stop that too. The `database` store's state is the database's.
 */
import Router from '@koa/router';
import { probe } from '../../db/flavor.ts';
import type { Db } from '../../db/knex.ts';
import { pendingMigrations } from '../../db/migrate.ts';
import { isGatehouseError } from '../../errors.ts';
import { RedisLimiterStore, type LimiterStore, type LimiterStoreKind } from '../../lib/limiter-store.ts';
import type { Metrics } from '../../metrics.ts';

/** How long `/readyz` waits for Redis's answer to a PING. */
const redisPingTimeoutMs = 1000;

/** The limit store's part of `/readyz`. */
export interface LimitsReadiness {
  store: LimiterStoreKind;
  ok: boolean;
  message?: string;
}

const databaseDown: LimitsReadiness = { store: 'database', ok: false, message: 'The database does not answer: limited requests answer 503.' };

async function limitsReadiness(store: LimiterStore, databaseOk: Promise<boolean>): Promise<LimitsReadiness> {
  if (store.kind === 'database') return (await databaseOk) ? { store: 'database', ok: true } : databaseDown;
  if (store instanceof RedisLimiterStore) {
    const reason = await store.unreachable(redisPingTimeoutMs);
    if (reason === undefined) return { store: 'redis', ok: true };
    return {
      store: 'redis',
      ok: false,
      message: `Redis does not answer (${reason}): sign-in attempts and other limited requests answer 503; protocol traffic goes on (device polls without slow_down).`,
    };
  }
  return { store: store.kind, ok: true };
}

export function healthRoutes(db: Db, metrics: Metrics, limiterStore: LimiterStore): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const reached = probe(db).then(
      () => true,
      (err: unknown) => {
        // Only an outage means "not ready"; any other failure is a bug and answers (and logs) as one.
        if (!isGatehouseError(err, 'database.unavailable')) throw err;
        return false;
      },
    );
    // Both at once: the Redis check is bounded by its own timeout and never throws.
    const [databaseOk, limits] = await Promise.all([
      reached,
      limitsReadiness(
        limiterStore,
        reached.catch(() => false),
      ),
    ]);
    if (!databaseOk) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { status: 'database unreachable', limits };
      return;
    }
    try {
      const pending = await pendingMigrations(db);
      ctx.status = pending.length === 0 ? 200 : 503;
      ctx.body = pending.length === 0 ? { status: 'ready', limits } : { status: 'migrations pending', pending, limits };
    } catch (err) {
      if (!isGatehouseError(err, 'database.unavailable')) throw err;
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { status: 'database unreachable', limits: limits.store === 'database' ? databaseDown : limits };
    }
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
