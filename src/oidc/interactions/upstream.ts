/**
 * Logins through an upstream OpenID provider. The upstream redirect URI is fixed
 * (`<issuer>/connectors/<id>/callback`, registered at the upstream); it forwards
 * to a path under the interaction, where oidc-provider's interaction cookie is
 * sent, and the code is exchanged there. State, nonce and PKCE verifier ride in a
 * signed, HttpOnly cookie bound to the interaction.
 */
import type { Context } from 'koa';
import { GatehouseError } from '../../errors.ts';
import type { OidcConnector, UpstreamState } from '../../identity/connectors/oidc.ts';
import { loadInteraction, type InteractionDeps } from './context.ts';
import { finishLogin } from './login.ts';

const cookieName = 'gh.upstream';

function upstreamConnector(deps: InteractionDeps, id: string): OidcConnector {
  const connector = deps.connectors.find((c): c is OidcConnector => c.type === 'oidc' && c.id === id);
  if (!connector) throw new GatehouseError('not_found', 'This sign-in option does not exist.');
  return connector;
}

const redirectUri = (deps: InteractionDeps, id: string) => `${deps.issuer}/connectors/${id}/callback`;

export async function startUpstream(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const connector = upstreamConnector(deps, String(ctx.params.connector));
  // A forced sign-in here (prompt=login, max_age, a re-authentication at /account) is forced at the upstream too.
  const fresh = details.prompt.reasons.includes('login_prompt') || details.prompt.reasons.includes('max_age');
  const { url, saved } = await connector.start(redirectUri(deps, connector.id), { fresh });
  const value = Buffer.from(JSON.stringify({ uid: details.uid, connector: connector.id, ...saved })).toString('base64url');
  ctx.cookies.set(cookieName, value, { httpOnly: true, sameSite: 'lax', secure: deps.secureCookies, signed: true, maxAge: 10 * 60 * 1000, path: '/' });
  ctx.redirect(url);
}

function readCookie(ctx: Context): (UpstreamState & { uid: string; connector: string }) | undefined {
  const raw = ctx.cookies.get(cookieName, { signed: true });
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as UpstreamState & { uid: string; connector: string };
  } catch {
    return undefined;
  }
}

/** The fixed upstream redirect URI: forwards to the interaction the cookie names. */
export async function upstreamCallback(deps: InteractionDeps, ctx: Context): Promise<void> {
  const saved = readCookie(ctx);
  if (!saved || saved.connector !== ctx.params.connector) {
    throw new GatehouseError('input.invalid', 'This sign-in could not be matched to your browser. Go back to the application and start again.');
  }
  ctx.redirect(
    `${new URL(deps.issuer).pathname.replace(/\/$/, '')}/interaction/${encodeURIComponent(saved.uid)}/connector/${encodeURIComponent(saved.connector)}/done${ctx.search}`,
  );
}

export async function finishUpstream(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const saved = readCookie(ctx);
  const connector = upstreamConnector(deps, String(ctx.params.connector));
  if (!saved || saved.uid !== details.uid || saved.connector !== connector.id) {
    throw new GatehouseError('input.invalid', 'This sign-in could not be matched to your browser. Go back to the application and start again.');
  }
  ctx.cookies.set(cookieName, null, { path: '/' });
  if (ctx.query.error === 'access_denied') {
    throw new GatehouseError('forbidden', `You declined to sign in with ${connector.name}. Go back to the application to try again or choose another way.`);
  }
  if (typeof ctx.query.error === 'string') {
    throw new GatehouseError('auth.upstream_failed', `${connector.name} did not sign you in (${ctx.query.error}).`);
  }
  const identity = await connector.finish(new URL(`${redirectUri(deps, connector.id)}${ctx.search}`), redirectUri(deps, connector.id), saved);
  // `fed` and the upstream's own methods (RFC 8176): a second factor there satisfies the `mfa` prompt (login.ts).
  await finishLogin(deps, ctx, details, identity, [...new Set(['fed', ...(identity.amr ?? [])])]);
}
