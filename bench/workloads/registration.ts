/**
 * Dynamic client registration (RFC 7591): POST <issuer>/reg with a bearer
 * registration token and a client_credentials client's metadata, as many as
 * the server takes. Gatehouse checks and counts ONE token (100 000 uses) in
 * front of oidc-provider's endpoint; the baselines (in-memory and durable) are
 * oidc-provider's own endpoint with a fixed string as its initial access token.
 * The target is against the durable baseline (both store the client on disk).
 *
 * The count must hold: after the run, the token's `uses` (read with the CLI,
 * `gatehouse registration-token show ID --json`, from the server's own config
 * file) must equal the 201 answers Gatehouse gave. So every request's answer is
 * counted: each round sends a fixed number of requests (autocannon `amount`,
 * sized from the rate of the server's previous round to last about the round's
 * share of the run) rather than stopping on a clock with requests in flight.
 * Non-2xx answers are counted and reported, not thrown.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { baselineRegistrationToken, registrationRequest } from '../fixtures.ts';
import { countHttp } from '../lib/http-load.ts';
import type { Durations, Side, Workload } from './types.ts';

const connections = 16;
const body = JSON.stringify(registrationRequest);
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What the Gatehouse bench server announces with `--registration`. */
export interface RegistrationServer {
  url: string;
  /** Its config file, for the CLI. */
  configFile: string;
  token: string;
  tokenId: string;
  count: number;
  /** A second token, for setting up the rotating clients (./client-credentials-rotating.ts). */
  setupToken: string;
}

export function registrationFrom(url: string, announced: Record<string, unknown>): RegistrationServer {
  const r = announced.registration;
  if (
    typeof r !== 'object' ||
    r === null ||
    !('configFile' in r) ||
    !('token' in r) ||
    !('tokenId' in r) ||
    !('count' in r) ||
    !('setupToken' in r) ||
    typeof r.configFile !== 'string' ||
    typeof r.token !== 'string' ||
    typeof r.tokenId !== 'string' ||
    typeof r.count !== 'number' ||
    typeof r.setupToken !== 'string'
  ) {
    throw new Error(`gatehouse announced no registration tokens: ${JSON.stringify(announced)}`);
  }
  return { url, configFile: r.configFile, token: r.token, tokenId: r.tokenId, count: r.count, setupToken: r.setupToken };
}

export const registrationHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' });

export interface RegisteredClient {
  client_id: string;
  client_secret: string;
}

/** One registration through the endpoint; anything but a 201 with a client id and secret is an error. */
export async function registerClient(url: string, token: string): Promise<RegisteredClient> {
  const res = await fetch(`${url}/reg`, { method: 'POST', headers: registrationHeaders(token), body, signal: AbortSignal.timeout(30_000) });
  const json: unknown = await res.json().catch(() => null);
  if (
    res.status !== 201 ||
    typeof json !== 'object' ||
    json === null ||
    !('client_id' in json) ||
    !('client_secret' in json) ||
    typeof json.client_id !== 'string' ||
    typeof json.client_secret !== 'string'
  ) {
    throw new Error(`registration at ${url}/reg: ${res.status} ${JSON.stringify(json)}`);
  }
  return { client_id: json.client_id, client_secret: json.client_secret };
}

/** `n` registrations, `concurrency` at a time (untimed setup). */
export async function registerClients(url: string, token: string, n: number, concurrency = 16): Promise<RegisteredClient[]> {
  const clients: RegisteredClient[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next += 1;
        clients.push(await registerClient(url, token));
      }
    }),
  );
  return clients;
}

interface Tally {
  /** Requests sent by the bench, every one answered unless `allAnswered` is false. */
  sent: number;
  statuses: Record<string, number>;
  errors: number;
  allAnswered: boolean;
  /** Successful registrations per second of the server's latest round: sizes its next one. */
  rate: number | undefined;
}

export interface RegistrationWorkload extends Workload {
  /** 201 answers Gatehouse gave (every round, warm-up and probes included). */
  gatehouseCreated(): number;
  tally(side: Side): Readonly<Tally>;
}

export function registration(d: Durations, server: RegistrationServer): RegistrationWorkload {
  const fresh = (): Tally => ({ sent: 0, statuses: {}, errors: 0, allAnswered: true, rate: undefined });
  const tallies: Record<Side, Tally> = { gatehouse: fresh(), baseline: fresh(), durable: fresh(), workers: fresh() };
  const add = (t: Tally, statuses: Record<string, number>) => {
    for (const [code, n] of Object.entries(statuses)) t.statuses[code] = (t.statuses[code] ?? 0) + n;
  };

  const run = async (url: string, side: Side, token: string, seconds: number) => {
    const t = tallies[side];
    // First time on a server: a short exact burst to learn its pace.
    if (t.rate === undefined) {
      const probe = await countHttp({
        url: `${url}/reg`,
        method: 'POST',
        headers: registrationHeaders(token),
        body,
        connections,
        amount: connections * 4,
        maxSec: 60,
      });
      t.sent += connections * 4;
      add(t, probe.statuses);
      t.errors += probe.errors;
      t.allAnswered &&= probe.complete;
      t.rate = Math.max(1, probe.rps);
    }
    const amount = Math.max(connections, Math.round(t.rate * seconds));
    const result = await countHttp({
      url: `${url}/reg`,
      method: 'POST',
      headers: registrationHeaders(token),
      body,
      connections,
      amount,
      maxSec: seconds * 3 + 10,
    });
    t.sent += amount;
    add(t, result.statuses);
    t.errors += result.errors;
    t.allAnswered &&= result.complete;
    if (result.count > 0) t.rate = result.rps;
    return result;
  };

  return {
    name: 'registration (one counted token)',
    // Against the durable baseline's /reg (a registration stores a client on both); the in-memory ratio is printed.
    target: null,
    targetDurable: 0.9,
    finerRounds: true,
    sides: ['baseline', 'durable', 'gatehouse'],
    gatehouseCreated: () => tallies.gatehouse.statuses['201'] ?? 0,
    tally: (side) => tallies[side],
    async measure(url, round) {
      const token = round.side === 'gatehouse' ? server.token : baselineRegistrationToken;
      const t = tallies[round.side];
      // The probe is one of the counted registrations too.
      await registerClient(url, token);
      t.sent += 1;
      t.statuses['201'] = (t.statuses['201'] ?? 0) + 1;
      if (round.warmup) await run(url, round.side, token, d.httpWarmupSec);
      const result = await run(url, round.side, token, Math.max(1, d.httpSec * round.share));
      const { statuses, non2xx, errors, complete, ...numbers } = result;
      return {
        numbers,
        details: {
          connections,
          round: { sent: numbers.count + non2xx, statuses, errors, complete },
          // Totals over every round so far on this server (the last round's details are kept).
          total: { sent: t.sent, statuses: { ...t.statuses }, errors: t.errors, allAnswered: t.allAnswered },
        },
      };
    },
  };
}

export interface RegistrationCount {
  tokenCount: number;
  /** The token's uses as the CLI reports them after the run. */
  uses: number;
  /** 201 answers Gatehouse gave with it. */
  created: number;
  countExact: boolean;
  /** Every request got an answer (no connection errors, no safety stop): without that, a mismatch may be a lost answer. */
  allAnswered: boolean;
  non2xx: { gatehouse: Record<string, number>; baseline: Record<string, number>; durable?: Record<string, number> };
}

const execFileAsync = promisify(execFile);

/** `gatehouse --config FILE --json registration-token show ID`, from the project root, as an operator would run it. */
export async function readTokenUses(server: RegistrationServer): Promise<number> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['bin/gatehouse.js', '--config', server.configFile, '--json', 'registration-token', 'show', server.tokenId],
    {
      cwd: projectRoot,
      timeout: 60_000,
      env: { ...process.env, NODE_ENV: 'production' },
    },
  );
  const shown: unknown = JSON.parse(stdout);
  if (typeof shown !== 'object' || shown === null || !('uses' in shown) || typeof shown.uses !== 'number') {
    throw new Error(`registration-token show printed no uses: ${stdout.slice(0, 300)}`);
  }
  return shown.uses;
}

export async function registrationCount(server: RegistrationServer, workload: RegistrationWorkload): Promise<RegistrationCount> {
  const uses = await readTokenUses(server);
  const created = workload.gatehouseCreated();
  const non2xx = (side: Side) => Object.fromEntries(Object.entries(workload.tally(side).statuses).filter(([code]) => !code.startsWith('2')));
  const gh = workload.tally('gatehouse');
  return {
    tokenCount: server.count,
    uses,
    created,
    countExact: uses === created,
    allAnswered: gh.allAnswered && gh.errors === 0,
    non2xx: { gatehouse: non2xx('gatehouse'), baseline: non2xx('baseline'), durable: non2xx('durable') },
  };
}
