// oidc-provider's per-provider internals, used only by src/oidc/internals.ts (the package ships no types for them).
declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
  export default function instance(provider: Provider): {
    grantTypeHandlers: Map<string, (ctx: KoaContextWithOIDC) => Promise<void>>;
    dynamicClients: unknown;
    jwks: { keys: Record<string, unknown>[] };
  };
}
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  import type { Provider } from 'oidc-provider';
  export default function initialize(this: Provider, jwks: { keys: Record<string, unknown>[] }): void;
}
declare module 'oidc-provider/lib/helpers/lru.js' {
  export default class LRU {
    constructor(options: { maxSize: number });
  }
}
declare module 'oidc-provider/lib/helpers/user_codes.js' {
  export function normalize(input: string): string;
}
