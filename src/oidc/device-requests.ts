/**
 * Two requests of the device authorization grant (RFC 8628) that oidc-provider
 * does not answer as Keycloak does, corrected in front of its router (provider
 * pre-middleware, so both issuers get them from createProvider):
 * - a device authorization request without `scope` (the verbatim RFC 8628 and
 *   Keycloak example sends only `client_id`) gets the client's default scopes,
 *   as Keycloak applies a client's default client scopes; oidc-provider would
 *   carry no scope and end the sign-in with a bare `access_denied`;
 * - the code form posted without a live browser session (a script, a scanner, a
 *   tab left open past the session's lifetime) gets a page saying to start
 *   again from the device; oidc-provider would fail with a 500 while rendering
 *   its own error (it tries to persist a session that was never stored).
 */
import type { Client, KoaContextWithOIDC, Provider } from 'oidc-provider';
import { readBody } from '../lib/json-body.ts';
import { replaceRequestBody } from './internals.ts';
import type { RenderPage } from './provider.ts';

/** oidc-provider's own limit for form bodies; a larger body is left for it to refuse. */
const formLimit = 56 * 1024;

/**
 * `openid` plus Keycloak's default client scopes for a new client (`profile`,
 * `email`). A client registered with a `scope` (an allow-list in oidc-provider)
 * gets those instead, `offline_access` left out: Keycloak treats it as an
 * optional scope that a client asks for by name.
 */
export function defaultDeviceScope(client: Pick<Client, 'scope'> | undefined): string {
  const allowed = client?.scope?.split(' ').filter(Boolean);
  if (!allowed?.length) return 'openid email profile';
  return allowed.filter((scope) => scope !== 'offline_access').join(' ');
}

/** The client a device authorization request names: `client_id` in the body, or HTTP Basic. */
function clientIdOf(ctx: KoaContextWithOIDC, form: URLSearchParams): string | undefined {
  const fromBody = form.get('client_id');
  if (fromBody) return fromBody;
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'))?.[1];
  if (!basic) return undefined;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  try {
    return decodeURIComponent(colon === -1 ? decoded : decoded.slice(0, colon)) || undefined;
  } catch {
    return undefined;
  }
}

/** Reads the body up to `formLimit`, leaving the rest readable; `complete` is false when there is more (then the read part and the rest are replayed). */
function readForm(ctx: KoaContextWithOIDC): Promise<{ chunks: Buffer[]; complete: boolean }> {
  return readBody(ctx.req.iterator({ destroyOnReturn: false }), formLimit, Number(ctx.get('content-length') || 0));
}

export function installDeviceRequestFixes(
  provider: Provider,
  paths: { base: string; deviceAuthorization: string; codeVerification: string },
  render: RenderPage,
): void {
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    if (ctx.path === paths.deviceAuthorization && ctx.is('application/x-www-form-urlencoded')) {
      await applyDefaultScope(provider, ctx as KoaContextWithOIDC);
      return next();
    }
    if (ctx.path === paths.codeVerification) {
      // The form's xsrf value lives in the browser session: without a stored one there is nothing to check it against.
      const session = await provider.Session.get(ctx);
      if (typeof session.exp !== 'number') {
        render(
          ctx as KoaContextWithOIDC,
          'error',
          {
            title: 'Start again from your device',
            message:
              'This page has expired, or it was sent without the browser session it belongs to. ' +
              'Open the address shown on your device again (or scan its QR code) and type the code it shows.',
            code: 'session_not_found',
            link: { href: `${paths.base}${paths.codeVerification}`, text: 'Enter a code' },
          },
          403,
        );
        ctx.set('Cache-Control', 'no-store');
        return undefined;
      }
    }
    return next();
  });
}

async function applyDefaultScope(provider: Provider, ctx: KoaContextWithOIDC): Promise<void> {
  const { chunks, complete } = await readForm(ctx);
  if (!complete) return replaceRequestBody(ctx, chunks, { rest: true });
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  if (form.get('scope')?.trim()) return replaceRequestBody(ctx, chunks);
  const clientId = clientIdOf(ctx, form);
  const client = clientId ? await provider.Client.find(clientId).catch(() => undefined) : undefined;
  const scope = defaultDeviceScope(client);
  if (!scope) return replaceRequestBody(ctx, chunks);
  form.set('scope', scope);
  return replaceRequestBody(ctx, [Buffer.from(form.toString())]);
}
