/**
 * Throughput of one HTTP request shape with autocannon: a short warm-up, then
 * a timed run with a fixed number of connections. Any non-2xx response or
 * connection error fails the run: the numbers would not mean what they say.
 */
import autocannon from 'autocannon';
import type { Measurement } from './stats.ts';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
}

async function cannon(options: LoadOptions, durationSec: number): Promise<autocannon.Result> {
  return autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    connections: options.connections,
    duration: durationSec,
    timeout: 10,
  });
}

export async function measureHttp(options: LoadOptions): Promise<Measurement> {
  if (options.warmupSec > 0) await cannon(options, options.warmupSec);
  const result = await cannon(options, options.durationSec);
  if (result.errors > 0 || result.non2xx > 0) {
    const codes = JSON.stringify(result.statusCodeStats ?? {});
    throw new Error(`${options.method ?? 'GET'} ${options.url}: ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts); status codes ${codes}`);
  }
  return {
    rps: result.requests.total / result.duration,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    count: result.requests.total,
    elapsedSec: result.duration,
  };
}
