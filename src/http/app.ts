/**
 * The Koa application, composed as a list: errors, headers, metrics, static
 * files, health, Gatehouse's own pages, then oidc-provider mounted at the
 * issuer's path. oidc-provider parses its own request bodies, so the form body
 * parser and CSRF check run only on our routes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import Koa, { type Context, type Middleware } from 'koa';
import mount from 'koa-mount';
import type { Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';
import { interactionRoutes } from '../oidc/interactions/index.ts';
import { passkeyInteractionRoutes } from '../oidc/interactions/passkey.ts';
import { relyingPartyOf } from '../identity/mfa/passkeys.ts';
import { registrationGuard } from '../oidc/registration.ts';
import { answerPendingPolls, PollingPace } from '../oidc/device-polling.ts';
import { publishedKeys, type KeyRefresher } from '../oidc/key-refresh.ts';
import { LocalConnector } from '../identity/connectors/local.ts';
import { csrf } from './middleware/csrf.ts';
import { errorHandler, httpStatus } from './middleware/errors.ts';
import { securityHeaders } from './middleware/headers.ts';
import { ownRoutes } from './middleware/own-routes.ts';
import { RateLimits, wrongDeviceCodes } from './middleware/rate-limit.ts';
import { staticDocuments } from './middleware/static-documents.ts';
import { healthRoutes } from './routes/health.ts';
import { signupRoutes } from './routes/signup.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { gatingRoutes } from './routes/gating.ts';
import { deviceRoutes } from './routes/devices.ts';
import { viewsDir } from './views.ts';
import { adminApiRoutes } from '../admin/api/index.ts';
import { consoleRoutes } from '../admin/web/index.ts';
import { accountRoutes } from '../account/index.ts';
import type { Limiter } from '../lib/limiter-store.ts';
import { parseDurationSeconds } from '../config/duration.ts';

export type Page = (ctx: Context, name: string, vars: Record<string, unknown>, status?: number) => void;

const stylesheetTemplate = readFileSync(path.join(viewsDir, 'static', 'gatehouse.css'), 'utf8');
/**
 * Passkeys (issue 15): @simplewebauthn/browser's bundle, served as our own file (no CDN; the CSP allows
 * scripts from 'self' only), and our script that calls it (views/static/passkeys.js).
 */
const scripts: Record<string, string> = {
  '/static/webauthn/simplewebauthn-browser.js': readFileSync(
    path.join(path.dirname(path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser'))), 'dist', 'bundle', 'index.umd.min.js'),
    'utf8',
  ),
  '/static/passkeys.js': readFileSync(path.join(viewsDir, 'static', 'passkeys.js'), 'utf8'),
};

/** A provider and the issuer it serves (Gatehouse's own, or the Keycloak realm's). */
export interface IssuerSite {
  provider: Provider;
  issuer: string;
  /** oidc-provider's cookie name prefix for this issuer (default `gh`). */
  cookiePrefix?: string;
  /** The registration endpoint's path inside the issuer (default `/reg`). */
  registrationPath?: string;
  /** Extra middleware in front of the provider (the Keycloak client representation). */
  before?: Middleware[];
}

export function createApp(gh: Gatehouse, main: Provider, realm?: IssuerSite, keyRefresher?: KeyRefresher): Koa {
  const { config, views, logger, metrics } = gh;
  const base = new URL(config.issuer).pathname.replace(/\/$/, '');
  const app = new Koa({ proxy: config.trustProxy });
  app.keys = gh.cookieKeys;

  app.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      metrics.httpRequests.inc({ method: ctx.method, route: String(ctx._matchedRoute ?? ctx.state.route ?? 'other'), status: String(ctx.status) });
    }
  });
  // Headers outside the error handler: error pages carry them too.
  app.use(securityHeaders());
  // Before anything is served or signed: keys rotated or revoked in the database since the last look.
  if (keyRefresher) app.use(keyRefresher.middleware());
  app.use(errorHandler(views, logger));
  const limits = new RateLimits(config, gh.limiterStore);
  // Wrong device user codes are counted over both issuers together (RFC 8628 §5.1).
  const wrongCodes = limits.window('deviceCodes');
  if (realm) app.use(mount(new URL(realm.issuer).pathname, issuerApp(gh, realm, limits, wrongCodes)));
  const own = issuerApp(gh, { provider: main, issuer: config.issuer }, limits, wrongCodes);
  app.use(base ? mount(base, own) : mount(own));
  app.on('error', (err: unknown) => logger.debug({ err }, 'koa error event'));
  return app;
}

/**
 * Everything one issuer serves below its path: Gatehouse's pages and routes,
 * the registration guard, then oidc-provider. Pages link and post below the
 * same path (`base`), so a sign-in started at the realm stays at the realm.
 */
function issuerApp(gh: Gatehouse, site: IssuerSite, limits: RateLimits, wrongCodesPerIp: Limiter): Koa {
  const { config, views, metrics } = gh;
  const { provider, issuer } = site;
  const base = new URL(issuer).pathname.replace(/\/$/, '');
  const secure = issuer.startsWith('https:');
  const stylesheet = stylesheetTemplate.replace('__PRIMARY__', config.branding.primaryColor);

  const page: Page = (ctx, name, vars, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = views.page(name, { base, ...vars, csrf: ctx.state.csrf });
  };
  const form: Middleware[] = [bodyParser({ enableTypes: ['form'], formLimit: '64kb' }), csrf(secure, base || '/')];

  const ours = new Koa();
  ours.keys = gh.cookieKeys;
  const interactions = {
    provider,
    connectors: gh.connectors,
    users: gh.users,
    gate: gh.gate,
    mfa: gh.mfa,
    joinRequests: gh.joinRequests,
    clients: gh.clients,
    metrics,
    issuer,
    secureCookies: secure,
    page,
    statuses: httpStatus,
    gateLimiter: limits.window('gate', base),
    interactionTtlMs: parseDurationSeconds(config.ttl.interaction) * 1000,
  };
  const routers = [
    healthRoutes(gh.db, metrics, gh.limiterStore),
    interactionRoutes(interactions, form),
    // Passkeys in a sign-in (oidc/interactions/passkey.ts): the relying party is this issuer's host name and origin.
    passkeyInteractionRoutes(
      interactions,
      { db: gh.db, clock: gh.clock, audit: gh.audit, rp: relyingPartyOf(issuer, config.security.webauthn.userVerification, config.branding.name) },
      form,
    ),
    signupRoutes(
      gh.connectors.find((c): c is LocalConnector => c instanceof LocalConnector),
      base,
      page,
      form,
      limits.window('signup', base),
    ),
    passwordResetRoutes(gh.passwordResets, base, page, form, limits.window('passwordReset', base)),
    gatingRoutes(
      {
        db: gh.db,
        aclTokens: gh.aclTokens,
        joinRequests: gh.joinRequests,
        clients: gh.clients,
        registrar: gh.registrar,
        page,
        secure,
        cookiePath: base || '/',
      },
      form,
    ),
  ];
  // The admin API (and console) belong to Gatehouse's own issuer only.
  // The console after the API: its guard answers every other path below /admin.
  if (issuer === config.issuer) {
    routers.push(
      adminApiRoutes({ gh, provider, limiter: limits.window('admin') }),
      consoleRoutes({ gh, provider, limiter: limits.window('admin', 'console') }),
    );
    routers.push(accountRoutes({ gh, provider }));
  }
  // Device enrollment answers at Gatehouse's own issuer only (its token endpoint is that issuer's).
  if (config.deviceRegistration.enabled && issuer === config.issuer) {
    routers.push(deviceRoutes(gh.devices, limits.window('deviceRegistration'), limits.firstRefusals('deviceRegistration')));
  }
  // Not async: every other request (the token endpoint's polls) passes on without a promise of its own.
  ours.use((ctx, next) => {
    if (ctx.path === '/static/gatehouse.css') {
      ctx.type = 'text/css';
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = stylesheet;
      return Promise.resolve();
    }
    const script = scripts[ctx.path];
    if (script !== undefined && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.type = 'application/javascript';
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = script;
      return Promise.resolve();
    }
    return next();
  });
  // Paths the routers define go to them; everything else on to oidc-provider, without route matching.
  ours.use(ownRoutes(routers));
  const codeVerification = new URL(provider.urlFor('code_verification')).pathname.slice(base.length) || '/device';
  ours.use(wrongDeviceCodes(wrongCodesPerIp, codeVerification));
  ours.use(staticDocuments(() => publishedKeys(provider)));
  const pace = new PollingPace(gh.limiterStore, {
    intervalSec: parseDurationSeconds(config.security.devicePollInterval),
    codeLifetimeSec: parseDurationSeconds(config.ttl.deviceCode),
    logger: gh.logger,
  });
  pace.install(provider);
  ours.use(pace.announce(new URL(provider.urlFor('device_authorization')).pathname.slice(base.length)));
  for (const middleware of site.before ?? []) ours.use(middleware);
  if (config.registration.enabled)
    ours.use(registrationGuard({ registrar: gh.registrar, provider, path: site.registrationPath ?? '/reg', statuses: httpStatus }));
  // Last before the provider (after the Keycloak realm's own token rewriting): pending device polls answered without it.
  ours.use(answerPendingPolls(provider, pace, new URL(provider.urlFor('token')).pathname.slice(base.length)));
  ours.use(mount(provider));
  return ours;
}
