/** `/healthz` (the process answers), `/readyz` (database reachable, migrations applied), `/metrics`. */
import Router from '@koa/router';
import type { Db } from '../../db/knex.ts';
import { pendingMigrations } from '../../db/migrate.ts';
import type { Metrics } from '../../metrics.ts';

export function healthRoutes(db: Db, metrics: Metrics): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await db.raw('select 1');
      const pending = await pendingMigrations(db);
      ctx.status = pending.length === 0 ? 200 : 503;
      ctx.body = pending.length === 0 ? { status: 'ready' } : { status: 'migrations pending', pending };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'database unreachable' };
    }
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
