/**
 * Device grant polling capacity (RFC 8628 §3.4): how many pending devices a
 * server keeps answering. Setup (`prepare`, untimed): N device authorizations
 * (POST <issuer>/device/auth for the public client `bench-tv`), 16 at a time;
 * nobody approves them. Then the token endpoint is polled with
 * grant_type=urn:ietf:params:oauth:grant-type:device_code, taking turns over
 * the N device codes (one shared counter over all connections), and every
 * answer should be 400 `authorization_pending`.
 *
 * Gatehouse answers `slow_down` to a code polled sooner than its interval
 * (security.devicePollInterval, 1 s here), cheaper than a real poll: N is
 * chosen so that at the rates reached each code comes round less than once a
 * second; slow_down answers are counted apart, so a too-small N shows. The
 * baselines have no slow_down. The in-memory one's memory adapter would evict
 * most of the N codes (1000-entry LRU), so it keeps device codes in a Map
 * (../baseline/adapter.ts); the durable one keeps them in its table.
 *
 * The rate counts every answer (polls per second); answers are tallied by
 * status and OAuth error on every server (every timed round). Anything but
 * authorization_pending or slow_down, or a connection error, fails the round.
 */
import { deviceClient } from '../fixtures.ts';
import { addAnswers, answerKind, emptyTally, type AnswerTally } from '../lib/answers.ts';
import { measureAnswers } from '../lib/http-load.ts';
import type { Durations, Side, TalliedWorkload } from './types.ts';

const connections = 16;
const grantType = 'urn:ietf:params:oauth:grant-type:device_code';
export const pendingAnswer = '400 authorization_pending';
export const slowDownAnswer = '400 slow_down';
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

interface Pool {
  codes: string[];
  next: number;
  setupSec: number;
  /** `interval` in the device authorization response, when the server sends one. */
  interval: number | null;
}

async function authorizeDevice(url: string): Promise<{ deviceCode: string; interval: number | null }> {
  const res = await fetch(`${url}/device/auth`, {
    method: 'POST',
    headers: formHeaders,
    body: new URLSearchParams({ client_id: deviceClient.client_id, scope: 'openid' }).toString(),
    signal: AbortSignal.timeout(30_000),
  });
  const json: unknown = await res.json().catch(() => null);
  if (res.status !== 200 || typeof json !== 'object' || json === null || !('device_code' in json) || typeof json.device_code !== 'string') {
    throw new Error(`device authorization at ${url}/device/auth: ${res.status} ${JSON.stringify(json)}`);
  }
  return { deviceCode: json.device_code, interval: 'interval' in json && typeof json.interval === 'number' ? json.interval : null };
}

export interface DevicePollingWorkload extends TalliedWorkload {
  codes: number;
  /** Device authorizations per second during setup, and the `interval` each server announced. */
  setup(side: Side): { authorizationsPerSec: number; interval: number | null } | undefined;
}

export function devicePolling(d: Durations, codes: number): DevicePollingWorkload {
  const pools = new Map<Side, Pool>();
  const tallies: Record<Side, AnswerTally> = { gatehouse: emptyTally(), baseline: emptyTally(), durable: emptyTally(), workers: emptyTally() };
  const poolOf = (side: Side): Pool => {
    const pool = pools.get(side);
    if (!pool) throw new Error(`no device codes at ${side} (prepare first)`);
    return pool;
  };
  const poll = (pool: Pool) => {
    const code = pool.codes[pool.next % pool.codes.length] ?? '';
    pool.next += 1;
    return new URLSearchParams({ grant_type: grantType, client_id: deviceClient.client_id, device_code: code }).toString();
  };

  return {
    name: `device polling, ${codes} pending codes`,
    target: 0.9,
    sides: ['baseline', 'durable', 'gatehouse'],
    codes,
    tally: (side) => tallies[side],
    setup(side) {
      const pool = pools.get(side);
      return pool ? { authorizationsPerSec: Math.round((pool.codes.length / pool.setupSec) * 10) / 10, interval: pool.interval } : undefined;
    },
    async prepare(url, side) {
      const t0 = performance.now();
      const pool: Pool = { codes: [], next: 0, setupSec: 0, interval: null };
      let started = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (started < codes) {
            started += 1;
            const { deviceCode, interval } = await authorizeDevice(url);
            pool.codes.push(deviceCode);
            pool.interval = interval;
          }
        }),
      );
      pool.setupSec = (performance.now() - t0) / 1000;
      pools.set(side, pool);
      return `${pool.codes.length} device authorizations (${Math.round(pool.codes.length / pool.setupSec)}/s, interval ${pool.interval ?? 'not sent'})`;
    },
    async measure(url, round) {
      const pool = poolOf(round.side);
      const probe = await fetch(`${url}/token`, { method: 'POST', headers: formHeaders, body: poll(pool), signal: AbortSignal.timeout(10_000) });
      const probeKind = answerKind(probe.status, await probe.text());
      // slow_down: this code came round again within its interval (a short --quick run over few codes); counted apart in the round.
      if (probeKind !== pendingAnswer && probeKind !== slowDownAnswer)
        throw new Error(`device_code poll probe: ${probeKind} (expected ${pendingAnswer} or ${slowDownAnswer})`);
      const before = pool.next;
      const result = await measureAnswers({
        url: `${url}/token`,
        method: 'POST',
        headers: formHeaders,
        body: poll(pool),
        connections,
        setupRequest: (request) => ({ ...request, body: poll(pool) }),
        classify: answerKind,
        durationSec: Math.max(1, Math.round(d.httpSec * round.share)),
        warmupSec: round.warmup ? d.httpWarmupSec : 0,
      });
      const { side } = round;
      addAnswers(tallies[side], result.kinds, result.errors);
      const unexpected = Object.entries(result.kinds).filter(([kind]) => kind !== pendingAnswer && kind !== slowDownAnswer);
      if (unexpected.length > 0 || result.errors > 0) {
        throw new Error(
          `device_code polls: ${JSON.stringify(result.kinds)}, ${result.errors} connection errors (expected only ${pendingAnswer} or ${slowDownAnswer})`,
        );
      }
      const { rps, p50ms, p99ms, count, elapsedSec } = result;
      return {
        numbers: { rps, p50ms, p99ms, count, elapsedSec },
        details: {
          codes: pool.codes.length,
          connections,
          // Seconds between two polls of one code at this round's rate (RFC 8628's interval is what the server asks for).
          secondsBetweenPollsOfACode: Math.round((pool.codes.length / result.rps) * 100) / 100,
          pollsTaken: pool.next - before,
          round: { answers: result.kinds },
          total: { answers: { ...tallies[side].answers }, errors: tallies[side].errors },
        },
      };
    },
  };
}
