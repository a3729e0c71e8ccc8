/**
 * The two documents every client fetches first: discovery
 * (/.well-known/openid-configuration) and the public keys (/jwks). Also
 * records whether the response carries Cache-Control.
 */
import { measureHttp } from '../lib/http-load.ts';
import type { Durations, Workload } from './types.ts';

function metadataWorkload(name: string, path: string, d: Durations): Workload {
  return {
    name,
    target: 0.8,
    async measure(url, round) {
      const probe = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
      const text = await probe.text();
      if (probe.status !== 200) throw new Error(`${path} probe: ${probe.status} ${text.slice(0, 300)}`);
      const numbers = await measureHttp({
        url: `${url}${path}`,
        connections: 16,
        durationSec: Math.max(1, Math.round(d.httpSec * round.share)),
        warmupSec: round.warmup ? d.httpWarmupSec : 0,
      });
      return { numbers, details: { cacheControl: probe.headers.get('cache-control'), bytes: text.length } };
    },
  };
}

export const discovery = (d: Durations) => metadataWorkload('discovery', '/.well-known/openid-configuration', d);
export const jwks = (d: Durations) => metadataWorkload('jwks', '/jwks', d);
