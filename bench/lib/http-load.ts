/**
 * Throughput of one HTTP request shape with autocannon: a short warm-up, then
 * a timed run with a fixed number of connections. Any non-2xx response or
 * connection error fails the run: the numbers would not mean what they say.
 *
 * `measureAnswers` is a timed run that expects refusals too (device polling is
 * all 400s): it never throws on a status, it tallies the answers by status and,
 * with `classify`, by what the body says (an OAuth `error` code), so the
 * workload decides which answers are right.
 *
 * `countHttp` is for checking a counter on the server against the answers:
 * autocannon sends a fixed number of requests (`amount`) and waits for every
 * answer, so none is cut off in flight (a timed run drops those still open
 * when its time is up, and the server may finish them unseen).
 */
import autocannon from 'autocannon';
import type { Measurement } from './stats.ts';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Called for every request: change it (e.g. take turns with credentials). */
  setupRequest?: (request: autocannon.Request) => autocannon.Request;
  connections: number;
  durationSec: number;
  warmupSec: number;
}

function cannonOptions(options: Omit<LoadOptions, 'durationSec' | 'warmupSec'>): autocannon.Options {
  return {
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    ...(options.setupRequest ? { requests: [{ setupRequest: options.setupRequest }] } : {}),
    connections: options.connections,
    timeout: 10,
  };
}

async function cannon(options: LoadOptions, durationSec: number): Promise<autocannon.Result> {
  return autocannon({ ...cannonOptions(options), duration: durationSec });
}

export async function measureHttp(options: LoadOptions): Promise<Measurement> {
  if (options.warmupSec > 0) await cannon(options, options.warmupSec);
  const result = await cannon(options, options.durationSec);
  if (result.errors > 0 || result.non2xx > 0) {
    const codes = JSON.stringify(result.statusCodeStats ?? {});
    throw new Error(
      `${options.method ?? 'GET'} ${options.url}: ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts); status codes ${codes}`,
    );
  }
  return measurementOf(result);
}

/** Rate and latencies of one autocannon run. */
function measurementOf(result: autocannon.Result): Measurement {
  return {
    rps: result.requests.total / result.duration,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    count: result.requests.total,
    elapsedSec: result.duration,
  };
}

export interface AnswerOptions extends LoadOptions {
  /** Names an answer from its status and body (e.g. its OAuth `error`); the names are counted. Reading bodies costs the driver a little. */
  classify?: (status: number, body: string) => string;
}

export interface AnsweredRun extends Measurement {
  /** Answers by HTTP status (the timed run only, not the warm-up). */
  statuses: Record<string, number>;
  /** Answers by `classify`'s name (the timed run only); empty without `classify`. */
  kinds: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
}

/** A timed run (after an optional warm-up) whose rate counts every answer, whatever its status. */
export async function measureAnswers(options: AnswerOptions): Promise<AnsweredRun> {
  let kinds: Record<string, number> = {};
  const { classify, setupRequest } = options;
  const request: autocannon.Request = {
    ...(setupRequest ? { setupRequest } : {}),
    ...(classify
      ? {
          onResponse: (status: number, body: string) => {
            const kind = classify(status, body);
            kinds[kind] = (kinds[kind] ?? 0) + 1;
          },
        }
      : {}),
  };
  const run = (durationSec: number) =>
    autocannon({
      ...cannonOptions(options),
      ...(setupRequest || classify ? { requests: [request] } : {}),
      duration: durationSec,
    });
  if (options.warmupSec > 0) await run(options.warmupSec);
  kinds = {};
  const result = await run(options.durationSec);
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0]));
  return {
    ...measurementOf(result),
    statuses,
    kinds,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export interface CountOptions extends Omit<LoadOptions, 'durationSec' | 'warmupSec'> {
  /** Requests to send (at least one per connection). */
  amount: number;
  /** Safety stop: past this, autocannon is stopped and answers in flight are lost (`complete` false). */
  maxSec: number;
}

export interface CountedRun extends Measurement {
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts: requests whose outcome the client never saw. */
  errors: number;
  /** Every request sent got its answer (not stopped by `maxSec`). */
  complete: boolean;
}

export async function countHttp(options: CountOptions): Promise<CountedRun> {
  const amount = Math.max(options.connections, Math.round(options.amount));
  const started = performance.now();
  let lastAnswer = started;
  let stoppedEarly = false;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...cannonOptions(options), amount }, (err: unknown, res: autocannon.Result) => {
      clearTimeout(safety);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(res);
    });
    instance.on('response', () => {
      lastAnswer = performance.now();
    });
    const safety = setTimeout(() => {
      stoppedEarly = true;
      instance.stop();
    }, options.maxSec * 1000);
  });
  // autocannon rounds its own duration up to its next 1 s tick once the last answer is in: time to the last answer instead.
  const elapsedSec = Math.max(0.001, (lastAnswer - started) / 1000);
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0]));
  const answered = Object.values(statuses).reduce((n, c) => n + c, 0);
  const ok = result.requests.total - result.non2xx;
  return {
    rps: ok / elapsedSec,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    count: ok,
    elapsedSec,
    statuses,
    non2xx: result.non2xx,
    errors: result.errors,
    complete: !stoppedEarly && answered + result.errors >= amount,
  };
}
