/**
 * Token rate for machines: POST /token grant_type=client_credentials with
 * client_secret_basic for `bench-service`, an opaque access token each time.
 * A probe request first checks the answer really is a token.
 */
import { basicAuth, serviceClient } from '../fixtures.ts';
import { measureHttp } from '../lib/http-load.ts';
import type { Durations, Workload } from './types.ts';

const body = 'grant_type=client_credentials';

export function clientCredentials(d: Durations): Workload {
  const headers = { authorization: basicAuth(serviceClient), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  return {
    name: 'client_credentials token',
    target: 0.75,
    targetDurable: 0.95,
    finerRounds: true,
    async measure(url, round) {
      const probe = await fetch(`${url}/token`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      const json: unknown = await probe.json();
      if (probe.status !== 200 || typeof json !== 'object' || json === null || !('access_token' in json)) {
        throw new Error(`client_credentials probe: ${probe.status} ${JSON.stringify(json)}`);
      }
      const numbers = await measureHttp({
        url: `${url}/token`,
        method: 'POST',
        headers,
        body,
        connections: 16,
        durationSec: Math.max(1, Math.round(d.httpSec * round.share)),
        warmupSec: round.warmup ? d.httpWarmupSec : 0,
      });
      return { numbers };
    },
  };
}
