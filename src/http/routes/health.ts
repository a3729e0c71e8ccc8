/**
 * `/healthz` (liveness: the process answers, whatever the database does), `/readyz`
 * (readiness: database reachable and migrations applied, else 503), `/metrics`.
 */
import Router from '@koa/router';
import { probe } from '../../db/flavor.ts';
import type { Db } from '../../db/knex.ts';
import { pendingMigrations } from '../../db/migrate.ts';
import { isGatehouseError } from '../../errors.ts';
import type { Metrics } from '../../metrics.ts';

export function healthRoutes(db: Db, metrics: Metrics): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await probe(db);
      const pending = await pendingMigrations(db);
      ctx.status = pending.length === 0 ? 200 : 503;
      ctx.body = pending.length === 0 ? { status: 'ready' } : { status: 'migrations pending', pending };
    } catch (err) {
      // Only an outage means "not ready"; any other failure is a bug and answers (and logs) as one.
      if (!isGatehouseError(err, 'database.unavailable')) throw err;
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { status: 'database unreachable' };
    }
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
