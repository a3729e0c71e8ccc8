/**
 * Full authorization-code login round trips (./login-flow.ts), 8 fresh
 * browsers in flight for a fixed time after a warm-up. Reports round trips
 * per second, whole-trip p50/p99, and the mean and p99 time of each step.
 */
import { closedLoop } from '../lib/closed-loop.ts';
import { mean, percentile, round } from '../lib/stats.ts';
import { emptyStepTimes, loginRoundTrip, loginSteps } from './login-flow.ts';
import type { Durations, Workload } from './types.ts';

const concurrency = 8;
const maxRoundTrips = 20_000;

export function login(d: Durations): Workload {
  return {
    name: 'login round trip',
    target: 0.8,
    async measure(url) {
      await closedLoop({ concurrency, durationMs: d.loginWarmupMs, maxOperations: maxRoundTrips }, () => loginRoundTrip(url));
      const times = emptyStepTimes();
      const result = await closedLoop({ concurrency, durationMs: d.loginMs, maxOperations: maxRoundTrips }, () => loginRoundTrip(url, times));
      const steps = Object.fromEntries(loginSteps.map((s) => [s, { meanMs: round(mean(times[s])), p99Ms: round(percentile(times[s], 99)) }]));
      return { numbers: { rps: result.rps, p50ms: result.p50ms, p99ms: result.p99ms, count: result.count }, details: { concurrency, steps } };
    },
  };
}
