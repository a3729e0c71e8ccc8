/**
 * The admin API under `/admin/api`: one route per admin operation
 * (../ops/), its input read from the path and the query string or JSON body
 * and checked by the operation's zod schema (400 naming the field), its answer
 * checked against the output schema before it leaves (a shape that drifts is
 * our bug, logged, never sent). Bearer auth on every route (./auth.ts), a rate
 * limit per caller, `Cache-Control: no-store`. The OpenAPI document is at
 * `/admin/api/openapi.json`, public, generated from the same schemas.
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import pkg from '../../../package.json' with { type: 'json' };
import type { Gatehouse } from '../../context.ts';
import { GatehouseError } from '../../errors.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import { invoke, pathParams, type AnyOperation } from '../operation.ts';
import { operations } from '../ops/index.ts';
import { authenticate } from './auth.ts';
import { openApiDocument } from './openapi.ts';
import { page, readPageQuery } from './pagination.ts';

export const adminApiPrefix = '/admin/api';

export interface AdminApiDeps {
  gh: Gatehouse;
  provider: Provider;
  /** Calls per caller (security.rateLimits.admin). */
  limiter: Limiter;
}

function inputOf(ctx: Context, op: AnyOperation): Record<string, unknown> {
  const fromPath = Object.fromEntries(pathParams(op.path).map((name) => [name, String(ctx.params[name])]));
  if (op.method === 'GET' || op.method === 'DELETE') {
    const { limit: _limit, cursor: _cursor, ...query } = ctx.query as Record<string, unknown>;
    return { ...(op.paginated ? query : (ctx.query as Record<string, unknown>)), ...fromPath };
  }
  const body = ctx.request.body;
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new GatehouseError('input.invalid', 'the request body must be a JSON object');
  }
  return { ...(body as Record<string, unknown> | undefined), ...fromPath };
}

export function adminApiRoutes(deps: AdminApiDeps): Router {
  const { gh, provider, limiter } = deps;
  const router = new Router({ prefix: adminApiPrefix });
  const json = bodyParser({
    enableTypes: ['json'],
    jsonLimit: '256kb',
    encoding: 'utf-8',
    onError: (err) => {
      throw new GatehouseError('input.invalid', `the request body is not JSON this API can read (${(err as Error).message})`);
    },
  });
  let document: Record<string, unknown> | undefined;

  router.get('/openapi.json', (ctx) => {
    document ??= openApiDocument(operations, `${gh.config.issuer}${adminApiPrefix}`, pkg.version);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = document;
  });

  // Before the body is read: who calls, and whether they may call now. Every answer, refusals included, is no-store.
  const guard = async (ctx: Context, next: () => Promise<unknown>) => {
    ctx.set('Cache-Control', 'no-store');
    const actor = await authenticate(ctx, gh, provider);
    const counted = await limiter.hit(actor);
    if (!counted.allowed) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(counted.retryAfterMs / 1000))));
      throw new GatehouseError('rate_limited', 'Too many admin API calls from this caller; wait a moment and try again.');
    }
    ctx.state.adminActor = actor;
    await next();
  };

  // A body sent as anything but JSON is refused, not ignored (a form post would otherwise run the operation without its fields).
  const jsonOnly = async (ctx: Context, next: () => Promise<unknown>) => {
    if (ctx.request.length || ctx.get('Transfer-Encoding')) {
      if (!ctx.is('application/json')) {
        throw new GatehouseError('input.invalid', 'send the request body as JSON (Content-Type: application/json)');
      }
    }
    await next();
  };

  for (const op of operations) {
    const method = op.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
    router[method](op.path, guard, jsonOnly, json, async (ctx: Context) => {
      const actor = ctx.state.adminActor as string;
      const pageQuery = op.paginated ? readPageQuery(ctx.query as Record<string, unknown>) : undefined;
      const answer = await invoke(op, { gh, actor }, inputOf(ctx, op));
      ctx.status = op.status ?? 200;
      ctx.body = pageQuery ? page(answer as unknown[], pageQuery) : answer;
    });
  }
  return router;
}
