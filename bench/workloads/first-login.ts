/**
 * First login with an invitation: the login round trip of ./login.ts, against a
 * second Gatehouse in manual gating mode, each time by a person who has never
 * signed in (a verified local account without a user) presenting `acl_token`
 * in the authorization request, so each trip redeems the token and creates the
 * user. The "baseline" side is Gatehouse's plain login round trip (known user),
 * interleaved in the same run. Stops when the prepared accounts run out.
 *
 * `race`: K-use token, 30 first logins POSTed at once; exactly K should be
 * admitted (303) and the rest told the invitation is used up (409).
 */
import { firstLoginAccount, raceAccounts, raceMaxUsers } from '../fixtures.ts';
import { closedLoop } from '../lib/closed-loop.ts';
import { emptyStepTimes, loginRoundTrip, openLoginPage, postLogin, type AtLoginPage } from './login-flow.ts';
import type { Durations, Workload } from './types.ts';

const concurrency = 8;

export interface FirstAuthServer {
  url: string;
  token: string;
  raceToken: string;
  /** Accounts first0 .. first<accounts-1> are for the timed part; the race takes the next `raceAccounts`. */
  accounts: number;
}

export function firstAuthFrom(url: string, announced: Record<string, unknown>): FirstAuthServer {
  const f = announced.firstauth;
  if (
    typeof f !== 'object' ||
    f === null ||
    !('token' in f) ||
    !('raceToken' in f) ||
    !('accounts' in f) ||
    typeof f.token !== 'string' ||
    typeof f.raceToken !== 'string' ||
    typeof f.accounts !== 'number'
  ) {
    throw new Error(`first-login server announced no tokens: ${JSON.stringify(announced)}`);
  }
  return { url, token: f.token, raceToken: f.raceToken, accounts: f.accounts };
}

export function firstLogin(d: Durations, server: FirstAuthServer): Workload {
  let next = 0;
  const firstLoginTrip = async (times?: ReturnType<typeof emptyStepTimes>) => {
    const i = next;
    next += 1;
    await loginRoundTrip(server.url, times, { account: firstLoginAccount(i), aclToken: server.token });
  };
  const remaining = () => Math.max(0, server.accounts - next);
  return {
    name: 'first login with token',
    // Against Gatehouse's plain login (the `baseline` side of this comparison).
    target: 0.9,
    finerRounds: true,
    async measure(url, round) {
      const first = round.side === 'gatehouse';
      // Each first-login iteration takes a fresh account; the loop's operation cap stops it when they run out.
      const cap = () => (first ? remaining() : 20_000);
      const once = (times?: ReturnType<typeof emptyStepTimes>) => (first ? firstLoginTrip(times) : loginRoundTrip(url, times));
      // The first-login server is new here, while the plain login's has run every workload before: twice the warm-up, so
      // that its code is as optimised when measured (with 140 warm-up logins its other steps took half as long again).
      if (round.warmup)
        await closedLoop(
          { concurrency, durationMs: first ? d.loginWarmupMs * 2 : d.loginWarmupMs, maxOperations: first ? Math.floor(server.accounts / 4) : 20_000 },
          () => once(),
        );
      if (cap() === 0) throw new Error(`first login: all ${server.accounts} accounts used before the round`);
      const times = emptyStepTimes();
      const result = await closedLoop({ concurrency, durationMs: d.loginMs * round.share, maxOperations: cap() }, () => once(times));
      const { latencies, ...numbers } = result;
      return {
        numbers,
        latencies,
        series: times,
        details: { concurrency, flow: first ? 'first login, acl_token, manual gating' : 'plain login, known user', ...(first ? { accountsUsed: next } : {}) },
      };
    },
  };
}

export interface RaceReport {
  maxUsers: number;
  attempts: number;
  admitted: number;
  usedUp: number;
  /** Any other answer (should be none). */
  other: Record<string, number>;
}

export async function race(server: FirstAuthServer): Promise<RaceReport> {
  const prepared: AtLoginPage[] = await Promise.all(
    Array.from({ length: raceAccounts }, (_, k) =>
      openLoginPage(server.url, undefined, 60_000, { account: firstLoginAccount(server.accounts + k), aclToken: server.raceToken }),
    ),
  );
  const statuses = await Promise.all(prepared.map(async (at) => (await postLogin(at)).status));
  const other: Record<string, number> = {};
  for (const s of statuses) if (s !== 303 && s !== 409) other[s] = (other[s] ?? 0) + 1;
  return {
    maxUsers: raceMaxUsers,
    attempts: raceAccounts,
    admitted: statuses.filter((s) => s === 303).length,
    usedUp: statuses.filter((s) => s === 409).length,
    other,
  };
}
