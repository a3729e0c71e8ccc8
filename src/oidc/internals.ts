/**
 * The two places Gatehouse reaches into oidc-provider's per-provider state
 * (no public API covers them), kept together so an upgrade checks one file:
 * - the grant handler map, to put the RFC 8628 pace check in front of the
 *   device_code grant (./device-polling.ts);
 * - the cache of built registered clients, 100 entries in oidc-provider, which a
 *   fleet of devices polling the token endpoint churns through (each miss
 *   rebuilds and re-validates the client).
 */
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
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
