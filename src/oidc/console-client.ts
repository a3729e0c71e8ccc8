/**
 * The admin console's own OIDC client, `gatehouse-admin` (SPEC 9): built in,
 * on Gatehouse's main issuer only, never in config.yaml's `clients` (so
 * `gatehouse client list` does not show it). A public client: authorization
 * code with PKCE S256, its one redirect URI `${issuer}/admin/callback`.
 *
 * It is first-party: it skips the gate's `access` prompt (the console itself
 * refuses anyone who is not an admin) and the consent page (a grant for its
 * scope is made on the spot). The code is redeemed in process, through the
 * model API, because the server may not reach its own public issuer URL.
 */
import { createHash } from 'node:crypto';
import type { ClientMetadata, Grant, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
import { constantTimeEqual } from '../lib/secrets.ts';
import { adminScope } from './admin-tokens.ts';

export const consoleClientId = 'gatehouse-admin';
export const consoleScope = `openid email profile ${adminScope}`;

/** `${issuer}/admin/callback`: where the console's authorization codes come back. */
export function consoleRedirectUri(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/admin/callback`;
}

export function consoleClient(issuer: string): ClientMetadata {
  return {
    client_id: consoleClientId,
    client_name: 'Gatehouse admin console',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [consoleRedirectUri(issuer)],
    scope: consoleScope,
  };
}

/** The static clients plus the console's (main issuer only); a config client may not take its id. */
export function withConsoleClient(config: Config, clients: ClientMetadata[]): ClientMetadata[] {
  if (clients.some((c) => c.client_id === consoleClientId)) {
    throw new GatehouseError('config.invalid', `clients: the client id "${consoleClientId}" is the admin console's own; pick another one`);
  }
  return [...clients, consoleClient(config.issuer)];
}

export function isConsoleClient(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc?.client?.clientId === consoleClientId;
}

/**
 * oidc-provider's `loadExistingGrant` (its default, lib/helpers/defaults.js of
 * 9.13.3, for every other client); for the console a grant covering its
 * scope is found or made and saved, so the consent prompt never asks.
 */
export async function loadGrantWithConsole(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const clientId = ctx.oidc.client!.clientId;
  const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(clientId);
  const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
  if (!isConsoleClient(ctx)) return existing;
  const accountId = ctx.oidc.account!.accountId;
  if (existing && existing.accountId === accountId) return existing;
  const grant = new ctx.oidc.provider.Grant({ accountId, clientId });
  grant.addOIDCScope(consoleScope);
  await grant.save();
  return grant;
}

/** The PKCE S256 challenge of a verifier (RFC 7636 §4.2). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * Redeems a console authorization code in process: it must exist, be the
 * console's, for its redirect URI, unexpired, unused, and match the PKCE
 * verifier (S256). It is consumed in any case once found (single use: a
 * second try, or a lost race, is refused). Returns the account it was issued for.
 */
export async function redeemConsoleCode(provider: Provider, issuer: string, code: string, verifier: string): Promise<string> {
  const refused = (why: string) => new GatehouseError('input.invalid', `This sign-in to the console cannot be finished (${why}). Start again.`);
  const found = await provider.AuthorizationCode.find(code);
  if (!found) throw refused('unknown or expired code');
  // `consumed` is set by the adapter's find (a consumed code is still returned) but is not in the model's types.
  if ((found as { consumed?: unknown }).consumed) throw refused('the code was already used');
  try {
    await found.consume();
  } catch {
    throw refused('the code was already used');
  }
  if (found.clientId !== consoleClientId) throw refused('the code is not for the console');
  if (found.redirectUri !== consoleRedirectUri(issuer)) throw refused('the code was issued for another address');
  if (found.isExpired) throw refused('the code has expired');
  if (found.codeChallengeMethod !== 'S256' || !found.codeChallenge || !constantTimeEqual(pkceChallenge(verifier), found.codeChallenge)) {
    throw refused('the code does not belong to this sign-in');
  }
  if (!found.accountId) throw refused('the code names nobody');
  return found.accountId;
}
