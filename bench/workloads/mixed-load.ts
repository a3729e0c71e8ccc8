/**
 * SQLite under mixed load (Gatehouse only, no baseline): `concurrency` clients,
 * each running operations back to back from one fixed deck, so the mix is the
 * same on every run: plain logins (a person who has signed in before), first
 * logins redeeming an invitation (manual gating: the user is made and linked in
 * that request), client_credentials tokens, refresh (rotation), introspection,
 * dynamic registrations with a counted token and device self-enrollments. All
 * of them write; together they are the writes a busy SQLite instance takes.
 *
 * What counts: every answer a client got, by operation (an operation that did
 * not end as expected is a failure, with the status it stopped at), the 5xx
 * among them (must be 0) and p50/p99 per operation. The server's log is
 * watched by the caller for SQLITE_BUSY (see run.ts and the test).
 * The run stops at `maxOperations` or `durationMs`, whichever comes first:
 * the test is bounded by a count, the bench by a clock.
 */
import { randomBytes } from 'node:crypto';
import { basicAuth, firstLoginAccount, registrationRequest, serviceClient, webClient } from '../fixtures.ts';
import { percentile, round } from '../lib/stats.ts';
import { fmt, renderTable } from '../lib/table.ts';
import { signIn, type LoginAs } from './login-flow.ts';

/** What the mixed workload needs on the server (see ../servers/mixed-seed.ts). */
export interface MixedServer {
  url: string;
  /** An invitation for bench-web with room for every account. */
  invitation: string;
  /** Accounts first0 .. first<accounts-1>, verified, never signed in. */
  accounts: number;
  registrationToken: string;
  deviceToken: string;
}

export function mixedFrom(url: string, announced: Record<string, unknown>): MixedServer {
  const m = announced.mixed;
  if (
    typeof m !== 'object' ||
    m === null ||
    !('invitation' in m) ||
    !('accounts' in m) ||
    !('registrationToken' in m) ||
    !('deviceToken' in m) ||
    typeof m.invitation !== 'string' ||
    typeof m.accounts !== 'number' ||
    typeof m.registrationToken !== 'string' ||
    typeof m.deviceToken !== 'string'
  ) {
    throw new Error(`gatehouse announced no mixed-load setup (started without --mixed?): ${JSON.stringify(announced)}`);
  }
  return { url, invitation: m.invitation, accounts: m.accounts, registrationToken: m.registrationToken, deviceToken: m.deviceToken };
}

export const mixedOperations = ['login', 'first login', 'token', 'refresh', 'introspection', 'registration', 'device enrolment'] as const;
export type MixedOperation = (typeof mixedOperations)[number];

/** The deck every client draws from in turn: 20 operations, about a third of them full browser sign-ins. */
const deck: MixedOperation[] = [
  'token',
  'login',
  'introspection',
  'first login',
  'refresh',
  'token',
  'registration',
  'introspection',
  'login',
  'device enrolment',
  'token',
  'refresh',
  'first login',
  'introspection',
  'token',
  'login',
  'refresh',
  'registration',
  'introspection',
  'device enrolment',
];

export interface MixedOptions {
  concurrency: number;
  maxOperations: number;
  durationMs: number;
}

export interface OperationNumbers {
  count: number;
  failed: number;
  p50ms: number;
  p99ms: number;
  /** How each one ended: "ok", or the status (or "error") it stopped at. */
  answers: Record<string, number>;
}

export interface MixedReport {
  concurrency: number;
  operations: number;
  elapsedSec: number;
  operationsPerSec: number;
  byOperation: Record<string, OperationNumbers>;
  /** Answers with a 5xx status, every operation together. */
  serverErrors: number;
  failed: number;
  /** The first few failures, word for word. */
  failures: string[];
}

/** A failed step: the status it stopped at, so 5xx answers are counted wherever in a flow they came. */
class Refused extends Error {
  constructor(
    readonly status: number | 'error',
    message: string,
  ) {
    super(message);
  }
}

const statusOf = (err: unknown): number | 'error' => {
  if (err instanceof Refused) return err.status;
  // The login flow's own errors name the status a step answered ("… answered 503 (expected 200) …").
  const answered = /answered (\d{3})/.exec(err instanceof Error ? err.message : String(err))?.[1];
  return answered ? Number(answered) : 'error';
};

async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { accept: 'application/json', ...headers }, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (an HTML error page): the status says enough.
  }
  return { status: res.status, json };
}

function expectAnswer(what: string, answer: { status: number; json: Record<string, unknown> }, status: number): Record<string, unknown> {
  if (answer.status !== status) throw new Refused(answer.status, `${what}: ${answer.status} ${JSON.stringify(answer.json).slice(0, 300)}`);
  return answer.json;
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

export async function mixedLoad(server: MixedServer, options: MixedOptions): Promise<MixedReport> {
  const run = randomBytes(4).toString('hex');
  let nextAccount = 0;
  let nextDevice = 0;
  /** People who have signed in once: they can sign in again. */
  const signedIn: LoginAs['account'][] = [];
  /** Refresh tokens not in use (each is used once: rotation). */
  const refreshTokens: string[] = [];
  /** Recent access tokens, to introspect. */
  const accessTokens: string[] = [];
  const keep = (tokens: Record<string, unknown>) => {
    if (typeof tokens.refresh_token === 'string') refreshTokens.push(tokens.refresh_token);
    if (typeof tokens.access_token === 'string') {
      accessTokens.push(tokens.access_token);
      if (accessTokens.length > 500) accessTokens.shift();
    }
  };

  const clientCredentials = async () => {
    keep(
      expectAnswer(
        'client_credentials',
        await post(`${server.url}/token`, { ...form, authorization: basicAuth(serviceClient) }, 'grant_type=client_credentials'),
        200,
      ),
    );
  };
  const firstLogin = async () => {
    const account = firstLoginAccount(nextAccount);
    nextAccount += 1;
    keep(await signIn(server.url, undefined, { account, aclToken: server.invitation }));
    signedIn.push(account);
  };
  const login = async () => {
    const account = signedIn[Math.floor(Math.random() * signedIn.length)]!;
    keep(await signIn(server.url, undefined, { account }));
  };
  const refresh = async () => {
    const token = refreshTokens.shift()!;
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString();
    keep(expectAnswer('refresh', await post(`${server.url}/token`, { ...form, authorization: basicAuth(webClient) }, body), 200));
  };
  const introspect = async () => {
    const token = accessTokens[Math.floor(Math.random() * accessTokens.length)]!;
    const body = new URLSearchParams({ token }).toString();
    const answer = expectAnswer(
      'introspection',
      await post(`${server.url}/token/introspection`, { ...form, authorization: basicAuth(serviceClient) }, body),
      200,
    );
    if (answer.active !== true) throw new Refused(200, `introspection: a fresh access token is inactive: ${JSON.stringify(answer)}`);
  };
  const register = async () => {
    expectAnswer(
      'registration',
      await post(
        `${server.url}/reg`,
        { authorization: `Bearer ${server.registrationToken}`, 'content-type': 'application/json' },
        JSON.stringify(registrationRequest),
      ),
      201,
    );
  };
  const enrollDevice = async () => {
    nextDevice += 1;
    const body = JSON.stringify({ token: server.deviceToken, manufacturerId: `mixed-${run}-${nextDevice}` });
    expectAnswer('device enrolment', await post(`${server.url}/api/register-device`, { 'content-type': 'application/json' }, body), 201);
  };

  /** The operation to run for a card of the deck: one that needs what is not there yet does what makes it. */
  const resolve = (op: MixedOperation): MixedOperation => {
    if (op === 'first login' && nextAccount >= server.accounts) return 'login';
    if (op === 'login' && signedIn.length === 0) return nextAccount < server.accounts ? 'first login' : 'token';
    if (op === 'refresh' && refreshTokens.length === 0) return signedIn.length > 0 ? 'login' : 'first login';
    if (op === 'introspection' && accessTokens.length === 0) return 'token';
    return op;
  };
  const work: Record<MixedOperation, () => Promise<void>> = {
    login,
    'first login': firstLogin,
    token: clientCredentials,
    refresh,
    introspection: introspect,
    registration: register,
    'device enrolment': enrollDevice,
  };

  const latencies = Object.fromEntries(mixedOperations.map((op) => [op, [] as number[]])) as Record<MixedOperation, number[]>;
  const answers = Object.fromEntries(mixedOperations.map((op) => [op, {} as Record<string, number>])) as Record<MixedOperation, Record<string, number>>;
  const failures: string[] = [];
  let serverErrors = 0;
  let issued = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;

  const worker = async () => {
    while (issued < options.maxOperations && performance.now() < deadline) {
      const op = resolve(deck[issued % deck.length]!);
      issued += 1;
      const t0 = performance.now();
      let outcome: string;
      try {
        await work[op]();
        outcome = 'ok';
      } catch (err) {
        const status = statusOf(err);
        outcome = String(status);
        if (typeof status === 'number' && status >= 500) serverErrors += 1;
        if (failures.length < 10) failures.push(`${op}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500));
      }
      latencies[op].push(performance.now() - t0);
      answers[op][outcome] = (answers[op][outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedSec = (performance.now() - started) / 1000;

  const byOperation: Record<string, OperationNumbers> = {};
  let failed = 0;
  for (const op of mixedOperations) {
    const count = latencies[op].length;
    const failedHere = count - (answers[op].ok ?? 0);
    failed += failedHere;
    byOperation[op] = {
      count,
      failed: failedHere,
      p50ms: round(percentile(latencies[op], 50), 1),
      p99ms: round(percentile(latencies[op], 99), 1),
      answers: answers[op],
    };
  }
  return {
    concurrency: options.concurrency,
    operations: issued,
    elapsedSec: round(elapsedSec, 1),
    operationsPerSec: round(issued / elapsedSec, 1),
    byOperation,
    serverErrors,
    failed,
    failures,
  };
}

/** The per-operation table and the verdict line, for the terminal. */
export function mixedSummary(report: MixedReport, busyLines: number): string {
  const table = renderTable(
    ['mixed load (SQLite)', 'count', 'failed', 'p50 ms', 'p99 ms'],
    Object.entries(report.byOperation).map(([op, n]) => [op, String(n.count), String(n.failed), fmt(n.p50ms), fmt(n.p99ms)]),
  );
  const verdict = report.serverErrors === 0 && busyLines === 0 ? 'ok' : 'FAILED';
  return (
    `${table}\n${report.concurrency} clients, ${report.operations} operations in ${report.elapsedSec} s (${report.operationsPerSec}/s):` +
    ` 5xx answers ${report.serverErrors}, SQLITE_BUSY in the server log ${busyLines}, other failures ${report.failed - report.serverErrors}: ${verdict}` +
    (report.failures.length ? `\n  first failures:\n    ${report.failures.join('\n    ')}` : '')
  );
}
