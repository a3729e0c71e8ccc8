/**
 * Token rate for many machines: client_credentials grants taking turns over
 * 1000 registered clients (client_secret_basic, one shared counter over all
 * connections, so consecutive requests come from different clients), where
 * ./client-credentials.ts asks for tokens for one static client.
 *
 * Setup (`prepare`, untimed): the clients are registered through each
 * server's own registration endpoint (Gatehouse with its setup registration
 * token, the baseline with its string token), 16 at a time.
 * With more clients than oidc-provider's cache of built clients (100), most
 * requests make the provider find the client through the adapter and build it
 * again, on every server.
 *
 * Beside the usual ratios to the baselines (rotating on each), run.ts compares
 * Gatehouse's rotating rate with its single-client rate of the same run
 * (target: at least 0.8 of it); the two workloads' rounds alternate
 * (lib/compare.ts `compareTogether`), so both rates see the same load.
 */
import { basicAuth, baselineRegistrationToken, rotatingClientCount } from '../fixtures.ts';
import { measureHttp } from '../lib/http-load.ts';
import type { Durations, Workload } from './types.ts';
import { registerClients, type RegistrationServer } from './registration.ts';

const body = 'grant_type=client_credentials';
const connections = 16;

interface Pool {
  authorizations: string[];
  next: number;
  setupSec: number;
}

export function clientCredentialsRotating(d: Durations, gatehouse: RegistrationServer, clients = rotatingClientCount): Workload {
  const pools = new Map<string, Pool>();
  const poolOf = (url: string): Pool => {
    const pool = pools.get(url);
    if (!pool) throw new Error(`no clients registered at ${url} (prepare first)`);
    return pool;
  };

  return {
    name: `client_credentials, ${clients} clients rotating`,
    target: null,
    finerRounds: true,
    sides: ['baseline', 'durable', 'gatehouse'],
    async prepare(url, side) {
      const t0 = performance.now();
      const registered = await registerClients(url, side === 'gatehouse' ? gatehouse.setupToken : baselineRegistrationToken, clients);
      pools.set(url, { authorizations: registered.map(basicAuth), next: 0, setupSec: (performance.now() - t0) / 1000 });
      return `${registered.length} clients registered`;
    },
    async measure(url, round) {
      const pool = poolOf(url);
      const turn = () => {
        const authorization = pool.authorizations[pool.next % pool.authorizations.length] ?? '';
        pool.next += 1;
        return authorization;
      };
      const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      const probe = await fetch(`${url}/token`, { method: 'POST', headers: { ...headers, authorization: turn() }, body, signal: AbortSignal.timeout(10_000) });
      const json: unknown = await probe.json();
      if (probe.status !== 200 || typeof json !== 'object' || json === null || !('access_token' in json)) {
        throw new Error(`client_credentials probe (registered client): ${probe.status} ${JSON.stringify(json)}`);
      }
      const before = pool.next;
      const numbers = await measureHttp({
        url: `${url}/token`,
        method: 'POST',
        headers,
        body,
        connections,
        setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: turn() } }),
        durationSec: Math.max(1, Math.round(d.httpSec * round.share)),
        warmupSec: round.warmup ? d.httpWarmupSec : 0,
      });
      return { numbers, details: { clients: pool.authorizations.length, setupSec: Math.round(pool.setupSec * 10) / 10, turnsTaken: pool.next - before } };
    },
  };
}
