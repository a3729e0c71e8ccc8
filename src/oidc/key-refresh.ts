/**
 * Live signing keys: oidc-provider takes its keys once, at construction, but
 * `gatehouse keys rotate` and `keys revoke` change them in the database while
 * servers run, several behind one load balancer. Each server checks the key
 * set's version (one small query, ./keys.ts `version()`) at most every
 * `keyRefreshIntervalMs` by its clock and, when it changed, swaps the keystore
 * of every issuer it serves (Gatehouse's own and the Keycloak realm's). The
 * check runs in front of the request that finds it due, so no timer is needed,
 * an idle server costs nothing, and tests move the injected clock instead of
 * waiting. A rotation or revocation is therefore live on every instance after
 * at most one interval.
 */
import type { Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { publishedJwks, replaceKeystore } from './internals.ts';
import type { Keys, PrivateJwk } from './keys.ts';

/** How often a server looks for changed keys: a rotation or revocation is live on every instance within this. */
export const keyRefreshIntervalMs = 30_000;
/** A request waits this long at most for the check (a slow database); the check goes on and later requests get its result. */
const longestWaitMs = 1_000;

export class KeyRefresher {
  private readonly providers: Provider[] = [];
  private version: string | undefined;
  private dueAt = 0;
  private checking: Promise<boolean> | undefined;

  constructor(
    private readonly keys: Keys,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs = keyRefreshIntervalMs,
  ) {}

  /** The keys to construct providers with (then `attach` them); the next check is one interval away. */
  async initial(): Promise<{ keys: PrivateJwk[] }> {
    const { version, jwks } = await this.keys.keySet();
    this.version = version;
    this.dueAt = this.clock.now() + this.intervalMs;
    return jwks;
  }

  attach(provider: Provider): void {
    this.providers.push(provider);
  }

  /**
   * Checks the database now and swaps every attached provider's keys if they
   * changed; true when it did. Calls while a check runs share it.
   */
  refresh(): Promise<boolean> {
    this.checking ??= this.check().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** Koa middleware: the due check (by the clock), before anything is served or signed. */
  middleware(): Middleware {
    return async (_ctx, next) => {
      if (this.clock.now() >= this.dueAt) await this.refreshWithin(longestWaitMs);
      await next();
    };
  }

  private async check(): Promise<boolean> {
    // Due again one interval from now whatever happens, so a failing database is asked once per interval, not per request.
    this.dueAt = this.clock.now() + this.intervalMs;
    if ((await this.keys.version()) === this.version) return false;
    const { version, jwks } = await this.keys.keySet();
    for (const provider of this.providers) replaceKeystore(provider, jwks);
    this.version = version;
    this.logger.info({ kids: jwks.keys.map((k) => k.kid) }, 'signing keys changed in the database: now publishing and signing with these');
    return true;
  }

  private async refreshWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const checked = this.refresh().catch((err: unknown) => {
      this.logger.warn({ err }, 'could not check the signing keys in the database; keeping the current ones');
      return false;
    });
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
    try {
      await Promise.race([checked, waited]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What the provider's `/jwks` answers now; a new object after every swap, so a cache of that answer knows when it is stale. */
export function publishedKeys(provider: Provider): object {
  return publishedJwks(provider);
}
