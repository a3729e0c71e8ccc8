/**
 * Full authorization-code login round trips (./login-flow.ts), 8 fresh
 * browsers in flight for a fixed time after a warm-up. Reports round trips
 * per second, whole-trip p50/p99, and each step's times as a series, so the
 * summary can name a slow step.
 */
import { closedLoop } from '../lib/closed-loop.ts';
import { emptyStepTimes, loginRoundTrip } from './login-flow.ts';
import type { Durations, Workload } from './types.ts';

const concurrency = 8;
const maxRoundTrips = 20_000;

export function login(d: Durations): Workload {
  return {
    name: 'login round trip',
    target: 0.9,
    finerRounds: true,
    async measure(url, round) {
      if (round.warmup) await closedLoop({ concurrency, durationMs: d.loginWarmupMs, maxOperations: maxRoundTrips }, () => loginRoundTrip(url));
      const times = emptyStepTimes();
      const result = await closedLoop({ concurrency, durationMs: d.loginMs * round.share, maxOperations: maxRoundTrips }, () => loginRoundTrip(url, times));
      const { latencies, ...numbers } = result;
      return { numbers, latencies, series: times, details: { concurrency } };
    },
  };
}
