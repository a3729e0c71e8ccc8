/**
 * The two places Gatehouse reaches into oidc-provider's per-provider state
 * (no public API covers them), kept together so an upgrade checks one file:
 * - the grant handler map, to put the RFC 8628 pace check in front of the
 *   device_code grant (./device-polling.ts);
 * - the cache of built registered clients, 100 entries in oidc-provider, which a
 *   fleet of devices polling the token endpoint churns through (each miss
 *   rebuilds and re-validates the client);
 * - the keystore, which oidc-provider builds once from `jwks` at construction,
 *   so a key rotated or revoked in the database reaches a running server
 *   (./key-refresh.ts).
 */
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

export type GrantHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

export function grantHandlers(provider: Provider): Map<string, GrantHandler> {
  return instance(provider).grantTypeHandlers;
}

/** Built registered clients are cached by a hash of their metadata, so a changed client is never served stale. */
export function enlargeClientCache(provider: Provider, maxSize: number): void {
  instance(provider).dynamicClients = new LRU({ maxSize });
}

/**
 * Swaps the provider's signing keys for `jwks`, through the same function its
 * constructor uses (lib/helpers/initialize_keystore.js in oidc-provider 9): it
 * checks every key, then replaces `keystore` (what id tokens and JWT responses
 * are signed with: the first key of the wanted alg) and `jwks` (what `/jwks`
 * answers) in one synchronous step, so no request sees half of each. It only
 * ever adds algorithms to the advertised `*_signing_alg_values_supported`; ours
 * stay RS256 and ES256 because the last active key of an algorithm cannot be
 * revoked (./keys.ts). Re-check on every oidc-provider upgrade: the file, its
 * `this` (the provider) and the two fields it sets.
 */
export function replaceKeystore(provider: Provider, jwks: { keys: Record<string, unknown>[] }): void {
  initializeKeystore.call(provider, jwks);
}

/** The JWKS the provider publishes now: a new object after every `replaceKeystore`, so it doubles as a version. */
export function publishedJwks(provider: Provider): object {
  return instance(provider).jwks;
}
