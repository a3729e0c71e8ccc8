/**
 * The baseline's adapter: oidc-provider's own memory adapter for every model,
 * except registered clients, which live in a plain Map.
 *
 * Why: the memory adapter is one LRU of 1000 entries shared by all models, in
 * two generations; under a client_credentials load every grant stores a token,
 * so 1000 registered clients taking turns are evicted before their next turn
 * and the baseline would answer invalid_client. A Map keeps them, at the same
 * per-request cost (a lookup), so the baseline still does what oidc-provider
 * does for a dynamic client: find it through the adapter, hash its metadata and
 * build it when its own client cache (100 entries) misses. Static clients never
 * reach the adapter, so the other workloads are unchanged.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

class ClientMap implements Adapter {
  private readonly clients = new Map<string, AdapterPayload>();

  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    this.clients.set(id, payload);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.clients.get(id);
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {}

  async destroy(id: string): Promise<void> {
    this.clients.delete(id);
  }

  async revokeByGrantId(): Promise<void> {}
}

/** `clockTolerance` as oidc-provider passes it to its memory adapter when none is configured (its default, 15 s). */
export function baselineAdapter(clockTolerance = 15): (model: string) => Adapter {
  const memory = createMemoryAdapter(clockTolerance);
  const clients = new ClientMap();
  return (model) => (model === 'Client' ? clients : memory(model));
}
