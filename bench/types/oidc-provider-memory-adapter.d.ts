/** oidc-provider's own in-memory adapter (no types shipped for its internals); the baseline keeps it for every model but Client. */
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';

  export function createMemoryAdapter(clockTolerance?: number): (model: string) => Adapter;
}
