/**
 * The Koa application, composed as a list: errors, headers, metrics, static
 * files, health, Gatehouse's own pages, then oidc-provider mounted at the
 * issuer's path. oidc-provider parses its own request bodies, so the form body
 * parser and CSRF check run only on our routes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import Koa, { type Context, type Middleware } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';
import { interactionRoutes } from '../oidc/interactions/index.ts';
import { registrationGuard } from '../oidc/registration.ts';
import { LocalConnector } from '../identity/connectors/local.ts';
import { csrf } from './middleware/csrf.ts';
import { errorHandler } from './middleware/errors.ts';
import { securityHeaders } from './middleware/headers.ts';
import { staticDocuments } from './middleware/static-documents.ts';
import { healthRoutes } from './routes/health.ts';
import { signupRoutes } from './routes/signup.ts';
import { gatingRoutes } from './routes/gating.ts';
import { viewsDir } from './views.ts';
import { GatehouseError } from '../errors.ts';
import { SlidingWindow } from '../lib/throttle.ts';
import { parseDurationSeconds } from '../config/duration.ts';

export type Page = (ctx: Context, name: string, vars: Record<string, unknown>, status?: number) => void;

const stylesheetTemplate = readFileSync(path.join(viewsDir, 'static', 'gatehouse.css'), 'utf8');

export function createApp(gh: Gatehouse, provider: Provider): Koa {
  const { config, views, logger, metrics } = gh;
  const base = new URL(config.issuer).pathname.replace(/\/$/, '');
  const secure = config.issuer.startsWith('https:');
  const stylesheet = stylesheetTemplate.replace('__PRIMARY__', config.branding.primaryColor);
  const app = new Koa({ proxy: config.trustProxy });
  app.keys = gh.cookieKeys;

  const page: Page = (ctx, name, vars, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = views.page(name, { ...vars, csrf: ctx.state.csrf });
  };
  const form: Middleware[] = [bodyParser({ enableTypes: ['form'], formLimit: '64kb' }), csrf(secure, base || '/')];

  app.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      metrics.httpRequests.inc({ method: ctx.method, route: String(ctx._matchedRoute ?? ctx.state.route ?? 'other'), status: String(ctx.status) });
    }
  });
  app.use(errorHandler(views, logger));
  app.use(securityHeaders());

  const ours = new Koa();
  ours.keys = app.keys;
  const routers = [
    healthRoutes(gh.db, metrics),
    interactionRoutes({
      provider, connectors: gh.connectors, users: gh.users, gate: gh.gate, joinRequests: gh.joinRequests, clients: gh.clients,
      metrics, issuer: config.issuer, secureCookies: secure, page,
      gateLimiter: new SlidingWindow(30, 15 * 60 * 1000),
      interactionTtlMs: parseDurationSeconds(config.ttl.interaction) * 1000,
    }, form),
    signupRoutes(gh.connectors.find((c): c is LocalConnector => c instanceof LocalConnector), base, page, form),
    gatingRoutes({ db: gh.db, aclTokens: gh.aclTokens, joinRequests: gh.joinRequests, clients: gh.clients, page, secure, cookiePath: base || '/' }, form),
  ];
  ours.use(async (ctx, next) => {
    if (ctx.path === '/static/gatehouse.css') {
      ctx.type = 'text/css';
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = stylesheet;
      return;
    }
    await next();
  });
  // Gatehouse's own routes live under a few prefixes; protocol requests skip the route matching.
  const ownRoutes = compose(routers.flatMap((router) => [router.routes(), router.allowedMethods()] as unknown as Middleware[]));
  const ownPaths = /^\/(interaction|connectors|signup|verify-email|invite|approval|healthz|readyz|metrics)(\/|$)/;
  ours.use((ctx, next) => (ownPaths.test(ctx.path) ? ownRoutes(ctx, next) : next()));
  // User codes are short: guessing is slowed down per IP (RFC 8628 §5.1).
  const userCodeEntries = new SlidingWindow(30, 15 * 60 * 1000);
  ours.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/device' && !userCodeEntries.hit(ctx.ip)) {
      throw new GatehouseError('rate_limited', 'Too many codes entered from your network. Wait a few minutes and try again.');
    }
    await next();
  });
  ours.use(staticDocuments());
  if (config.registration.enabled) ours.use(registrationGuard({ registrar: gh.registrar, provider, path: '/reg', via: 'rfc7591' }));
  ours.use(mount(provider));

  app.use(base ? mount(base, ours) : mount(ours));
  app.on('error', (err: unknown) => logger.debug({ err }, 'koa error event'));
  return app;
}
