/**
 * Overload: N browsers each open a login page (a valid interaction and CSRF
 * pair), then all N POST their credentials at once. Password hashing is capped
 * (cores running, a bounded queue waiting), so the excess should get a quick
 * 503 page, never a 500, and the server should sign people in again right after.
 */
import { closedLoop } from '../lib/closed-loop.ts';
import { percentile, round } from '../lib/stats.ts';
import { loginRoundTrip, openLoginPage, postLogin, type AtLoginPage } from './login-flow.ts';

export interface OverloadReport {
  burst: number;
  statuses: Record<string, number>;
  accepted303: number;
  rejected503: number;
  invalid401: number;
  server500: number;
  networkErrors: number;
  /** 503 answers without Retry-After. */
  missingRetryAfter: number;
  burstSeconds: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  /** Latency per answer status: a 503 should come back quickly, not after queueing. */
  byStatus: Record<string, { p50ms: number; maxMs: number }>;
  /** A full login round trip succeeded after the burst. */
  recovered: boolean;
  recoveryError?: string;
}

/** Each burst request may wait this long: without a limit every login queues (the baseline's case). */
const burstTimeoutMs = 60_000;

export async function overload(url: string, burst: number): Promise<OverloadReport> {
  const prepared: AtLoginPage[] = [];
  await closedLoop({ concurrency: 16, durationMs: 120_000, maxOperations: burst }, async () => {
    prepared.push(await openLoginPage(url, undefined, burstTimeoutMs));
  });
  if (prepared.length < burst) throw new Error(`overload: prepared only ${prepared.length} of ${burst} login pages`);

  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const latenciesByStatus: Record<string, number[]> = {};
  let networkErrors = 0;
  let missingRetryAfter = 0;
  const started = performance.now();
  await Promise.all(
    prepared.map(async (at) => {
      const t0 = performance.now();
      try {
        const res = await postLogin(at);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        (latenciesByStatus[res.status] ??= []).push(performance.now() - t0);
        if (res.status === 503 && !res.headers.get('retry-after')) missingRetryAfter += 1;
      } catch {
        networkErrors += 1;
      }
      latencies.push(performance.now() - t0);
    }),
  );
  const burstSeconds = (performance.now() - started) / 1000;

  let recovered = true;
  let recoveryError: string | undefined;
  try {
    await loginRoundTrip(url);
  } catch (err) {
    recovered = false;
    recoveryError = err instanceof Error ? err.message : String(err);
  }
  const count = (status: number) => statuses[String(status)] ?? 0;
  return {
    burst,
    statuses,
    accepted303: count(303),
    rejected503: count(503),
    invalid401: count(401),
    server500: count(500),
    networkErrors,
    missingRetryAfter,
    burstSeconds: round(burstSeconds),
    p50ms: round(percentile(latencies, 50)),
    p99ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
    byStatus: Object.fromEntries(
      Object.entries(latenciesByStatus).map(([status, list]) => [status, { p50ms: round(percentile(list, 50)), maxMs: round(Math.max(...list)) }]),
    ),
    recovered,
    ...(recoveryError ? { recoveryError } : {}),
  };
}
