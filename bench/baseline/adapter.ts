/**
 * The baseline's adapter: oidc-provider's own memory adapter for every model,
 * except registered clients and device codes, which live in plain Maps.
 *
 * Why: the memory adapter is one LRU of 1000 entries shared by all models, in
 * two generations. Under a client_credentials load every grant stores a token,
 * so 1000 registered clients taking turns are evicted before their next turn
 * and the baseline would answer invalid_client; likewise the thousands of
 * pending device codes the polling workload takes turns with would be evicted
 * (invalid_grant instead of authorization_pending). A Map keeps them, at the
 * same per-request cost (a lookup), so the baseline still does what
 * oidc-provider does: find the client or code through the adapter (and, for a
 * dynamic client, hash its metadata and build it when its own client cache of
 * 100 entries misses). Static clients never reach the adapter, and no other
 * workload stores a device code, so the other workloads are unchanged.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

/** Entries kept until destroyed, with the memory adapter's user code index (for the device code page). */
class KeptModels implements Adapter {
  private readonly entries = new Map<string, AdapterPayload>();
  private readonly userCodes = new Map<string, string>();

  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const previous = this.entries.get(id);
    if (previous?.userCode) this.userCodes.delete(previous.userCode);
    if (payload.userCode) this.userCodes.set(payload.userCode, id);
    this.entries.set(id, payload);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.entries.get(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.userCodes.get(userCode);
    return id === undefined ? undefined : this.entries.get(id);
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.entries.get(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    const payload = this.entries.get(id);
    if (payload?.userCode) this.userCodes.delete(payload.userCode);
    this.entries.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, payload] of this.entries) if (payload.grantId === grantId) await this.destroy(id);
  }
}

const kept = new Set(['Client', 'DeviceCode']);

/** `clockTolerance` as oidc-provider passes it to its memory adapter when none is configured (its default, 15 s). */
export function baselineAdapter(clockTolerance = 15): (model: string) => Adapter {
  const memory = createMemoryAdapter(clockTolerance);
  const maps = new Map([...kept].map((model) => [model, new KeptModels()]));
  return (model) => maps.get(model) ?? memory(model);
}
