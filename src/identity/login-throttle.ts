/**
 * The throttle on password logins, built so that it slows attackers down without
 * letting anyone lock an owner out of their account (SPEC 8; NIST SP 800-63B
 * 5.2.2). The tight limits are keyed on the IP: a stranger failing for an account
 * stops only themselves. Across IPs an account is slowed down, not closed:
 *
 * - per (account, IP): `maxFailures` failures within `windowMs` stop that IP for
 *   that account, the right password included, until the oldest leaves the window;
 * - per IP: 4 x `maxFailures` failures within `windowMs` stop that IP for every account;
 * - per account, from the `maxFailures`-th failure in a row on (from any IPs), each
 *   failure makes the account wait 1 s, 2 s, 4 s, ... (at most `windowMs`) before
 *   the next attempt from an IP that has been failing. An IP with no failure in the
 *   window, or one the account signed in from before, is not delayed: the owner
 *   at home signs in while strangers elsewhere guess;
 * - 100 failures in a row (the NIST ceiling) refuse the account from every IP
 *   except those it signed in from before, until a success there or 24 h after
 *   the last failure.
 *
 * A success resets the account's run of failures and that pair's count. Every
 * count is kept in the limiter store (`security.rateLimits.store`, lib/limiter-store.ts),
 * so instances on one database or Redis share them: the pair and IP counts as
 * windows from their first failure, the run of failures and the IPs an account
 * signed in from as counts whose memory each new one renews (an IP's, at most
 * once a day: most sign-ins write nothing here, see `check`). Nothing here
 * sleeps: a refusal says how long to wait, computed from the injected clock.
 */
import type { Clock } from '../lib/clock.ts';
import { Limiter, MemoryLimiterStore, type LimiterStore } from '../lib/limiter-store.ts';

/** NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account. */
export const consecutiveFailureCeiling = 100;
/** How long a run of failures is remembered after its last failure (and so how long the ceiling holds). */
export const failureRunMemoryMs = 24 * 3600 * 1000;
/** How long an IP the account signed in from counts as the owner's. */
const knownIpMemoryMs = 30 * 86_400_000;
/** A sign-in renews its IP's memory only when the last renewal is older than this (one write less on most sign-ins). */
const knownIpRenewAfterMs = 86_400_000;

export interface LoginThrottleOptions {
  maxFailures: number;
  windowMs: number;
}

/** What `LoginThrottle.check` read before the password was checked. */
export interface ThrottleCheck {
  /** Milliseconds this attempt must wait (0: go ahead). */
  waitMs: number;
  /** Whether the pair had failures counted or the account a run of failures (a success then resets them). */
  failures: boolean;
  /** Whether this IP was renewed as the owner's within the last day (a success then leaves it). */
  knownFresh: boolean;
}

interface FailureRun {
  count: number;
  lastAt: number;
}

export class LoginThrottle {
  private readonly perPair: Limiter;
  private readonly perIp: Limiter;

  /** `store` (by default one of its own, in memory) and `name`: the same name in the same store is the same count. */
  constructor(
    private readonly options: LoginThrottleOptions,
    private readonly clock: Clock,
    private readonly store: LimiterStore = new MemoryLimiterStore(clock),
    private readonly name = 'login',
  ) {
    this.perPair = new Limiter(store, `${name}.pair`, options.maxFailures, options.windowMs);
    this.perIp = new Limiter(store, `${name}.ip`, options.maxFailures * 4, options.windowMs);
  }

  /** Milliseconds this attempt must wait before it is heard (0: go ahead and check the password). */
  async waitMs(account: string, ip: string): Promise<number> {
    return (await this.check(account, ip)).waitMs;
  }

  /**
   * What this attempt must wait, and what a success right after it has to write
   * (given back to `succeeded`): a sign-in with nothing to reset from an IP
   * renewed as the owner's within the last day writes nothing here. Four reads,
   * side by side.
   */
  async check(account: string, ip: string): Promise<ThrottleCheck> {
    const [pair, ipWait, run, known] = await Promise.all([
      this.perPair.state(pairKey(account, ip)),
      this.perIp.retryAfterMs(ip),
      this.run(account),
      this.store.peek(this.knownKey(account, ip)),
    ]);
    const waits = [pair.retryAfterMs, ipWait];
    if (run && run.count >= this.options.maxFailures) {
      const now = this.clock.now();
      if (run.count >= consecutiveFailureCeiling && !known) waits.push(run.lastAt + failureRunMemoryMs - now);
      else if (!known && (await this.perIp.count(ip)) > 0) waits.push(run.lastAt + this.delayMs(run.count) - now);
    }
    return {
      waitMs: Math.max(0, ...waits),
      failures: pair.count > 0 || run !== undefined,
      knownFresh: known !== undefined && known.remainingMs > knownIpMemoryMs - knownIpRenewAfterMs,
    };
  }

  /** A wrong password (or an unknown account: the same answer, the same count). */
  async failed(account: string, ip: string): Promise<void> {
    await Promise.all([this.perPair.hit(pairKey(account, ip)), this.perIp.hit(ip), this.store.incr(this.runKey(account), failureRunMemoryMs, { renew: true })]);
  }

  /**
   * The right password: the run of failures ends, and this IP is one the owner
   * uses. With the `check` made before the password was checked, only what it
   * saw is written: no reset when it saw no failures (one counted after it, by
   * a concurrent attempt, stays counted), no renewal of an IP renewed within
   * the last day (it is then remembered 29 to 30 days after the last sign-in).
   */
  async succeeded(account: string, ip: string, seen?: ThrottleCheck): Promise<void> {
    const writes: Promise<unknown>[] = [];
    if (!seen || seen.failures) writes.push(this.perPair.reset(pairKey(account, ip)), this.store.delete(this.runKey(account)));
    if (!seen?.knownFresh) writes.push(this.store.incr(this.knownKey(account, ip), knownIpMemoryMs, { renew: true }));
    await Promise.all(writes);
  }

  /** The delay after the `count`-th failure in a row: 1 s at `maxFailures`, doubling, at most the window. */
  delayMs(count: number): number {
    if (count < this.options.maxFailures) return 0;
    return Math.min(1000 * 2 ** Math.min(count - this.options.maxFailures, 30), this.options.windowMs);
  }

  /** The account's run of failures; each failure renews its memory, so its last one was `failureRunMemoryMs` before it ends. */
  private async run(account: string): Promise<FailureRun | undefined> {
    const counted = await this.store.peek(this.runKey(account));
    return counted && { count: counted.count, lastAt: this.clock.now() + counted.remainingMs - failureRunMemoryMs };
  }

  private runKey(account: string): string {
    return `${this.name}.run:${account}`;
  }

  private knownKey(account: string, ip: string): string {
    return `${this.name}.known:${pairKey(account, ip)}`;
  }
}

const pairKey = (account: string, ip: string): string => `${account}\n${ip}`;
