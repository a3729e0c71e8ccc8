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
 * A success resets the account's run of failures and that pair's count. In
 * memory, per instance, like `SlidingWindow` (its TODO applies). Nothing here
 * sleeps: a refusal says how long to wait, computed from the injected clock.
 */
import type { Clock } from '../lib/clock.ts';
import { SlidingWindow } from '../lib/throttle.ts';

/** NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account. */
export const consecutiveFailureCeiling = 100;
/** How long a run of failures is remembered after its last failure (and so how long the ceiling holds). */
export const failureRunMemoryMs = 24 * 3600 * 1000;
/** How long an IP the account signed in from counts as the owner's. */
const knownIpMemoryMs = 30 * 86_400_000;
const knownIpsPerAccount = 10;
const maxTrackedAccounts = 50_000;

export interface LoginThrottleOptions {
  maxFailures: number;
  windowMs: number;
}

interface FailureRun {
  count: number;
  lastAt: number;
}

export class LoginThrottle {
  private readonly perPair: SlidingWindow;
  private readonly perIp: SlidingWindow;
  private readonly runs = new Map<string, FailureRun>();
  private readonly knownIps = new Map<string, Map<string, number>>();

  constructor(
    private readonly options: LoginThrottleOptions,
    private readonly clock: Clock,
  ) {
    const now = () => clock.now();
    this.perPair = new SlidingWindow(options.maxFailures, options.windowMs, now);
    this.perIp = new SlidingWindow(options.maxFailures * 4, options.windowMs, now);
  }

  /** Milliseconds this attempt must wait before it is heard (0: go ahead and check the password). */
  waitMs(account: string, ip: string): number {
    const now = this.clock.now();
    const waits = [this.perPair.retryAfterMs(pairKey(account, ip)), this.perIp.retryAfterMs(ip)];
    const run = this.run(account, now);
    if (run) {
      const known = this.isKnownIp(account, ip, now);
      if (run.count >= consecutiveFailureCeiling && !known) waits.push(run.lastAt + failureRunMemoryMs - now);
      else if (run.count >= this.options.maxFailures && !known && this.perIp.count(ip) > 0) waits.push(run.lastAt + this.delayMs(run.count) - now);
    }
    return Math.max(0, ...waits);
  }

  /** A wrong password (or an unknown account: the same answer, the same count). */
  failed(account: string, ip: string): void {
    const now = this.clock.now();
    this.perPair.hit(pairKey(account, ip));
    this.perIp.hit(ip);
    const run = this.run(account, now) ?? { count: 0, lastAt: now };
    this.runs.set(account, { count: run.count + 1, lastAt: now });
    if (this.runs.size > maxTrackedAccounts) this.prune(now);
  }

  /** The right password: the run of failures ends, and this IP is one the owner uses. */
  succeeded(account: string, ip: string): void {
    const now = this.clock.now();
    this.perPair.reset(pairKey(account, ip));
    this.runs.delete(account);
    const known = this.knownIps.get(account) ?? new Map<string, number>();
    known.delete(ip);
    known.set(ip, now);
    // Keep the most recent few (a Map iterates in insertion order: the oldest first).
    for (const oldest of known.keys()) {
      if (known.size <= knownIpsPerAccount) break;
      known.delete(oldest);
    }
    this.knownIps.set(account, known);
    if (this.knownIps.size > maxTrackedAccounts) this.prune(now);
  }

  /** The delay after the `count`-th failure in a row: 1 s at `maxFailures`, doubling, at most the window. */
  delayMs(count: number): number {
    if (count < this.options.maxFailures) return 0;
    return Math.min(1000 * 2 ** Math.min(count - this.options.maxFailures, 30), this.options.windowMs);
  }

  private run(account: string, now: number): FailureRun | undefined {
    const run = this.runs.get(account);
    if (run && run.lastAt + failureRunMemoryMs <= now) {
      this.runs.delete(account);
      return undefined;
    }
    return run;
  }

  private isKnownIp(account: string, ip: string, now: number): boolean {
    const at = this.knownIps.get(account)?.get(ip);
    return at !== undefined && at + knownIpMemoryMs > now;
  }

  private prune(now: number): void {
    for (const [account, run] of this.runs) if (run.lastAt + failureRunMemoryMs <= now) this.runs.delete(account);
    for (const [account, ips] of this.knownIps) {
      for (const [ip, at] of ips) if (at + knownIpMemoryMs <= now) ips.delete(ip);
      if (ips.size === 0) this.knownIps.delete(account);
    }
  }
}

const pairKey = (account: string, ip: string): string => `${account}\n${ip}`;
