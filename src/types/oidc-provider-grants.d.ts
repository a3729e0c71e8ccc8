// oidc-provider's per-provider internals, used by src/oidc/device-polling.ts to wrap the device_code grant (no types shipped).
declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
  export default function instance(provider: Provider): { grantTypeHandlers: Map<string, (ctx: KoaContextWithOIDC) => Promise<void>> };
}
