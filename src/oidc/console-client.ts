/**
 * Gatehouse's built-in OIDC clients (SPEC 9): the admin console's
 * `gatehouse-admin` (`/admin`) and the people's pages' `gatehouse-account`
 * (`/account`, `/review`). Built in, on Gatehouse's main issuer only, never in
 * config.yaml's `clients` (so `gatehouse client list` does not show them).
 * Public clients: authorization code with PKCE S256, one redirect URI each
 * (`${issuer}/admin/callback`, `${issuer}/account/callback`).
 *
 * They are first-party: they skip the gate's `access` prompt (the console
 * itself refuses anyone who is not an admin; anyone with an account may see
 * their own account) and the consent page (a grant for the client's scope is
 * made on the spot). Their codes are redeemed in process, through the model
 * API, because the server may not reach its own public issuer URL.
 */
import { createHash } from 'node:crypto';
import type { ClientMetadata, Grant, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
import { constantTimeEqual } from '../lib/secrets.ts';
import { adminScope } from './admin-tokens.ts';

/** One built-in client: its id, its name on Gatehouse's pages, its callback below the issuer, its scope. */
export interface BuiltInClient {
  clientId: string;
  name: string;
  /** The callback's path below the issuer's (`/admin/callback`). */
  callbackPath: string;
  scope: string;
  /** How a refused sign-in names the place being signed in to ("the console"). */
  place: string;
}

export const consoleClientId = 'gatehouse-admin';
export const consoleScope = `openid email profile ${adminScope}`;
export const accountClientId = 'gatehouse-account';
export const accountScope = 'openid email profile';

export const consoleBuiltIn: BuiltInClient = {
  clientId: consoleClientId,
  name: 'Gatehouse admin console',
  callbackPath: '/admin/callback',
  scope: consoleScope,
  place: 'the console',
};
export const accountBuiltIn: BuiltInClient = {
  clientId: accountClientId,
  name: 'Your account',
  callbackPath: '/account/callback',
  scope: accountScope,
  place: 'your account',
};

export const builtInClients: readonly BuiltInClient[] = [consoleBuiltIn, accountBuiltIn];
const builtInById = new Map(builtInClients.map((c) => [c.clientId, c]));

/** Whether a client id is one of the built-in clients'. */
export function isBuiltInClientId(clientId: string): boolean {
  return builtInById.has(clientId);
}

/** `${issuer}${callbackPath}`: where a built-in client's authorization codes come back. */
export function builtInRedirectUri(issuer: string, client: BuiltInClient): string {
  return `${issuer.replace(/\/$/, '')}${client.callbackPath}`;
}

export function builtInClientMetadata(issuer: string, client: BuiltInClient): ClientMetadata {
  return {
    client_id: client.clientId,
    client_name: client.name,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [builtInRedirectUri(issuer, client)],
    scope: client.scope,
  };
}

/** `${issuer}/admin/callback`: where the console's authorization codes come back. */
export function consoleRedirectUri(issuer: string): string {
  return builtInRedirectUri(issuer, consoleBuiltIn);
}

export function consoleClient(issuer: string): ClientMetadata {
  return builtInClientMetadata(issuer, consoleBuiltIn);
}

/** The static clients plus the built-in ones (main issuer only); a config client may not take their ids. */
export function withBuiltInClients(config: Config, clients: ClientMetadata[]): ClientMetadata[] {
  for (const builtIn of builtInClients) {
    if (clients.some((c) => c.client_id === builtIn.clientId)) {
      throw new GatehouseError('config.invalid', `clients: the client id "${builtIn.clientId}" is Gatehouse's own (${builtIn.name}); pick another one`);
    }
  }
  return [...clients, ...builtInClients.map((builtIn) => builtInClientMetadata(config.issuer, builtIn))];
}

export function isConsoleClient(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc?.client?.clientId === consoleClientId;
}

/**
 * oidc-provider's `loadExistingGrant` (its default, lib/helpers/defaults.js of
 * 9.13.3, for every other client); for a built-in client a grant covering its
 * scope is found or made and saved, so the consent prompt never asks.
 */
export async function loadGrantWithBuiltIns(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const clientId = ctx.oidc.client!.clientId;
  const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(clientId);
  const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
  const builtIn = builtInById.get(clientId);
  if (!builtIn) return existing;
  const accountId = ctx.oidc.account!.accountId;
  if (existing && existing.accountId === accountId) return existing;
  const grant = new ctx.oidc.provider.Grant({ accountId, clientId });
  grant.addOIDCScope(builtIn.scope);
  await grant.save();
  return grant;
}

/** The PKCE S256 challenge of a verifier (RFC 7636 §4.2). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** The authorization request a built-in client's sign-in starts with (`${issuer}/auth?...`). */
export function builtInAuthorizationUrl(
  provider: Provider,
  issuer: string,
  client: BuiltInClient,
  login: { state: string; verifier: string },
  extra: Record<string, string> = {},
): string {
  const auth = new URL(provider.urlFor('authorization'));
  auth.search = new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    redirect_uri: builtInRedirectUri(issuer, client),
    scope: client.scope,
    state: login.state,
    code_challenge: pkceChallenge(login.verifier),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return auth.href;
}

/** Who a redeemed code was issued for, and the Gatehouse session (oidc-provider's uid) it came from. */
export interface RedeemedCode {
  accountId: string;
  sessionUid: string | undefined;
  /** How long before the code was issued the person signed in (its `iat` minus `auth_time`, seconds): a fresh sign-in is a proof (account/pages/reauth.ts). */
  authenticatedBeforeSeconds: number | undefined;
}

/**
 * Redeems a built-in client's authorization code in process: it must exist,
 * be that client's, for its redirect URI, unexpired, unused, and match the
 * PKCE verifier (S256). It is consumed in any case once found (single use: a
 * second try, or a lost race, is refused).
 */
export async function redeemBuiltInCode(provider: Provider, issuer: string, client: BuiltInClient, code: string, verifier: string): Promise<RedeemedCode> {
  const refused = (why: string) => new GatehouseError('input.invalid', `This sign-in to ${client.place} cannot be finished (${why}). Start again.`);
  const found = await provider.AuthorizationCode.find(code);
  if (!found) throw refused('unknown or expired code');
  // `consumed` is set by the adapter's find (a consumed code is still returned) but is not in the model's types.
  if ((found as { consumed?: unknown }).consumed) throw refused('the code was already used');
  try {
    await found.consume();
  } catch {
    throw refused('the code was already used');
  }
  if (found.clientId !== client.clientId) throw refused(`the code is not for ${client.place}`);
  if (found.redirectUri !== builtInRedirectUri(issuer, client)) throw refused('the code was issued for another address');
  if (found.isExpired) throw refused('the code has expired');
  if (found.codeChallengeMethod !== 'S256' || !found.codeChallenge || !constantTimeEqual(pkceChallenge(verifier), found.codeChallenge)) {
    throw refused('the code does not belong to this sign-in');
  }
  if (!found.accountId) throw refused('the code names nobody');
  const authenticatedBeforeSeconds = typeof found.authTime === 'number' && typeof found.iat === 'number' ? Math.max(0, found.iat - found.authTime) : undefined;
  return { accountId: found.accountId, sessionUid: found.sessionUid, authenticatedBeforeSeconds };
}

/** Redeems a console code (redeemBuiltInCode for `gatehouse-admin`): the account it was issued for. */
export async function redeemConsoleCode(provider: Provider, issuer: string, code: string, verifier: string): Promise<string> {
  return (await redeemBuiltInCode(provider, issuer, consoleBuiltIn, code, verifier)).accountId;
}
