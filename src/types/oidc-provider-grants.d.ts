// oidc-provider's per-provider internals, used only by src/oidc/internals.ts (the package ships no types for them).
declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
  export default function instance(provider: Provider): {
    grantTypeHandlers: Map<string, (ctx: KoaContextWithOIDC) => Promise<void>>;
    staticClients?: Map<string, unknown>;
    features: { clientIdMetadataDocument?: { enabled?: boolean } };
    jwks: { keys: Record<string, unknown>[] };
  };
}
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  import type { Provider } from 'oidc-provider';
  export default function initialize(this: Provider, jwks: { keys: Record<string, unknown>[] }): void;
}
declare module 'oidc-provider/lib/helpers/lru.js' {
  export default class LRU<V = unknown> {
    constructor(options: { maxSize: number });
    get(key: string): V | undefined;
    set(key: string, value: V): this;
  }
}
declare module 'oidc-provider/lib/helpers/add_client.js' {
  import type { Client, Provider } from 'oidc-provider';
  export default function add(provider: Provider, metadata: Record<string, unknown>): Promise<Client>;
}
declare module 'oidc-provider/lib/helpers/user_codes.js' {
  export function normalize(input: string): string;
}
