/**
 * The pages keycloak-js frames at the realm (its defaults: `checkLoginIframe`
 * on), served from our own files with scripts from our own origin only:
 * - `protocol/openid-connect/3p-cookies/step1.html` → `step2.html`: does this
 *   browser keep a cookie in a frame of ours? (keycloak-js turns the session
 *   iframe off when not);
 * - `protocol/openid-connect/login-status-iframe.html`: answers keycloak-js's
 *   "is my session still the one I signed in with?";
 *   `login-status-iframe.html/init?client_id=&origin=` is Keycloak's check
 *   (204 when the origin is one of the client's web origins, else 403), and
 *   `.../status?client_id=&origin=&session_state=` the same check followed by
 *   the answer our script passes on.
 *
 * Framing: keycloak-js loads these pages without naming its client, so their
 * `frame-ancestors` lists the web origins that realm clients registered
 * explicitly (Keycloak allows any ancestor); every other page stays
 * `frame-ancestors 'none'`. For the login-status page that is the set the
 * `status` check narrows to one client. The cookie-check pages disclose one
 * word that is the same for every visitor and take no input, so they would be
 * safe under any ancestor; they get the same list anyway, because no
 * keycloak-js page outside it could use the session iframe they prepare.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import type { Db } from '../db/knex.ts';
import { clientPayloadsWithWebOrigins } from '../db/repos/client-web-origins.ts';
import { allowedWebOrigins, explicitWebOrigins } from './web-origins.ts';

const base = '/protocol/openid-connect';
const statusPage = `${base}/login-status-iframe.html`;

export interface KeycloakIframeOptions {
  provider: Provider;
  db: Db;
  config: Config;
  /** Where the pages and scripts are (views/static/keycloak). */
  assetsDir: string;
  /** The realm session cookie's name (oidc-provider's `cookies.names.session`). */
  sessionCookie: string;
}

export function keycloakIframes(options: KeycloakIframeOptions): Middleware {
  const { provider, db, config, assetsDir, sessionCookie } = options;
  const asset = (name: string) => readFileSync(path.join(assetsDir, name), 'utf8');
  const files = new Map<string, { type: string; body: string; framed: boolean }>([
    [statusPage, { type: 'html', body: asset('login-status-iframe.html'), framed: true }],
    [`${base}/login-status-iframe.js`, { type: 'js', body: asset('login-status-iframe.js'), framed: false }],
    [`${base}/3p-cookies/step1.html`, { type: 'html', body: asset('step1.html'), framed: true }],
    [`${base}/3p-cookies/step1.js`, { type: 'js', body: asset('step1.js'), framed: false }],
    [`${base}/3p-cookies/step2.html`, { type: 'html', body: asset('step2.html'), framed: true }],
    [`${base}/3p-cookies/step2.js`, { type: 'js', body: asset('step2.js'), framed: false }],
  ]);
  const realmOrigin = new URL(provider.issuer).origin;

  /** Every web origin a realm client listed explicitly: static clients, then registered ones. */
  async function framingOrigins(): Promise<string[]> {
    const metadata = [...config.clients, ...(await clientPayloadsWithWebOrigins(db)).map((p) => JSON.parse(p) as Record<string, unknown>)];
    return [...new Set(metadata.flatMap((m) => explicitWebOrigins(m) ?? []))];
  }

  /** Keycloak's init check: the client exists and is enabled, and the origin is one of its web origins (or ours). */
  async function originAllowed(ctx: Context): Promise<string | undefined> {
    const clientId = typeof ctx.query.client_id === 'string' ? ctx.query.client_id : '';
    const origin = typeof ctx.query.origin === 'string' ? ctx.query.origin : '';
    const client = clientId ? await provider.Client.find(clientId) : undefined;
    if (!client || !origin) return undefined;
    return origin === realmOrigin || allowedWebOrigins(client.metadata()).includes(origin) ? client.clientId : undefined;
  }

  /** "unchanged" while this browser's realm session still holds the sid keycloak-js signed in with. */
  async function sessionStatus(ctx: Context, clientId: string): Promise<'changed' | 'unchanged'> {
    const sent = typeof ctx.query.session_state === 'string' ? ctx.query.session_state : '';
    const sessionId = ctx.cookies.get(sessionCookie, { signed: true });
    const session = sessionId ? await provider.Session.find(sessionId) : undefined;
    const current = session?.accountId ? session.authorizations?.[clientId]?.sid : undefined;
    if (!current) return sent ? 'changed' : 'unchanged';
    return current === sent ? 'unchanged' : 'changed';
  }

  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === `${statusPage}/init` || ctx.path === `${statusPage}/status`) {
      ctx.set('Cache-Control', 'no-store');
      const clientId = await originAllowed(ctx);
      if (!clientId) {
        ctx.status = 403;
        return;
      }
      if (ctx.path.endsWith('/init')) {
        ctx.status = 204;
        return;
      }
      ctx.type = 'text';
      ctx.body = await sessionStatus(ctx, clientId);
      return;
    }
    const file = files.get(ctx.path);
    if (!file) return next();
    if (file.framed) ctx.state.frameAncestors = await framingOrigins();
    ctx.type = file.type;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = file.body;
  };
}
