/**
 * RFC 8628 polling rules oidc-provider leaves out: the device authorization
 * response carries `interval`, and a device that polls the token endpoint
 * faster than that gets `slow_down` and must wait 5 seconds longer from then
 * on (§3.5). The pace is counted in the limiter store
 * (`security.rateLimits.store`, lib/limiter-store.ts), so every instance and
 * worker on the same database or Redis sees the same device the same way;
 * with `memory` each one counts alone.
 *
 * Keys (the device code is only ever stored as its SHA-256):
 * - `device.pace:<hash>:<n>`, a fixed window of the interval after `n`
 *   slow_downs (base + 5n seconds), opened by the first poll: the poll that
 *   opens it passes, another one within it gets `slow_down`. That is the one
 *   store call (one write) of an ordinary poll.
 * - `device.slowDowns:<hash>`: how many slow_downs the device got, counted
 *   at each one; it says which `n` is current.
 *
 * A slow_down moves the device to level n+1: it counts the slow_down, opens
 * level n+1's window at that poll (so the next poll must wait the longer
 * interval), and retires level n by making its window as long as a device
 * code lives. An instance that still polls level n (it never saw the
 * slow_down) finds a window longer than the level's interval, reads the count
 * and goes on at the current level; each instance remembers the level of the
 * codes it saw slowed down, so their polls stay one store call too. Two
 * slow_downs at the same moment on two instances count twice, as the device
 * was told twice.
 *
 * The poll that ends the code (tokens issued, access_denied, expired_token)
 * deletes its keys; those of codes a device gave up on end with their windows.
 *
 * A store that cannot be reached (Redis down, a database error) lets polls
 * through without any pace: polling is protocol traffic, and the code itself
 * still holds (redeemed once, expiring). That is logged once, and again after
 * it has recovered and failed anew.
 */
import { hash } from 'node:crypto';
import type { Middleware } from 'koa';
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import { replaceRequestBody, wrapGrantHandler } from './internals.ts';
import { readBody } from '../lib/json-body.ts';
import type { LimiterStore } from '../lib/limiter-store.ts';
import type { Logger } from '../lib/logger.ts';

export const defaultIntervalSec = 5;
/** RFC 8628 §3.5: each slow_down makes the interval this much longer. */
const slowDownStepSec = 5;
/** ttl.deviceCode's default. */
const defaultCodeLifetimeSec = 600;
const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';
/** Levels remembered per instance before the memory is started afresh (it is only a shortcut: the store has them). */
const maxRemembered = 100_000;

export interface PollingPaceOptions {
  /** The interval announced and kept before any slow_down (`security.devicePollInterval`). */
  intervalSec?: number;
  /** How long a device code lives (`ttl.deviceCode`): a retired level and the slow_down count outlive it. */
  codeLifetimeSec?: number;
  logger?: Pick<Logger, 'warn' | 'info'>;
}

export class PollingPace {
  readonly intervalSec: number;
  /** How long the slow_down count and a retired level are kept: longer than a code lives, plus any interval. */
  private readonly markerMs: number;
  private readonly logger: Pick<Logger, 'warn' | 'info'> | undefined;
  /** Per hashed device code: the level this instance last saw, only for codes that got a slow_down. */
  private readonly levels = new Map<string, number>();
  private failing = false;

  constructor(
    private readonly store: LimiterStore,
    options: PollingPaceOptions = {},
  ) {
    this.intervalSec = options.intervalSec ?? defaultIntervalSec;
    this.markerMs = ((options.codeLifetimeSec ?? defaultCodeLifetimeSec) + 3600) * 1000;
    this.logger = options.logger;
  }

  /** True while the limiter store fails and polls pass without a pace (since the last failed store call, until one succeeds). */
  get unpaced(): boolean {
    return this.failing;
  }

  /** Rejects with `slow_down` when this device code was polled sooner than its interval allows. */
  async check(deviceCode: string): Promise<void> {
    if (!deviceCode) return;
    // guarded() inlined: this runs on every poll, and a closure per poll is garbage for the collector.
    let verdict: 'pass' | 'slow_down';
    try {
      verdict = await this.verdict(hashOf(deviceCode));
      if (this.failing) this.recovered();
    } catch (err) {
      this.failed(err);
      return;
    }
    if (verdict === 'slow_down') throw new errors.SlowDown();
  }

  /** Forgets the pace of a code that has ended. Never rejects. */
  async forget(deviceCode: string): Promise<void> {
    if (!deviceCode) return;
    const hash = hashOf(deviceCode);
    const level = this.levels.get(hash) ?? 0;
    this.levels.delete(hash);
    // This poll's check found the current level (a retired one leads to it), so these are all the keys.
    const keys = Array.from({ length: level + 1 }, (_, n) => paceKey(hash, n));
    if (level > 0) keys.push(slowDownsKey(hash));
    await this.guarded(() => Promise.all(keys.map((key) => this.store.delete(key))), []);
  }

  /** oidc-provider's device_code grant handler, with the pace check in front and the forgetting after the last poll. */
  install(provider: Provider): void {
    wrapGrantHandler(provider, deviceCodeGrantType, (original) => async (ctx: KoaContextWithOIDC) => {
      const deviceCode = String(ctx.oidc.params?.device_code ?? '');
      await this.check(deviceCode);
      try {
        await original(ctx);
      } catch (err) {
        if (err instanceof errors.AccessDenied || err instanceof errors.ExpiredToken) await this.forget(deviceCode);
        throw err;
      }
      await this.forget(deviceCode);
    });
  }

  /** Adds `interval` to the device authorization response (at `path` inside the issuer). */
  announce(path: string): Middleware {
    const interval = this.intervalSec;
    const add = async (ctx: Parameters<Middleware>[0], next: () => Promise<unknown>): Promise<void> => {
      await next();
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && 'device_code' in ctx.body) {
        (ctx.body as Record<string, unknown>).interval = interval;
      }
    };
    // Every other request (the token endpoint's polls among them) passes straight on: no async frame, no promise of its own.
    return (ctx, next) => (ctx.method === 'POST' && ctx.path === path ? add(ctx, next) : next());
  }

  /** The interval after `level` slow_downs, in ms. */
  intervalMs(level: number): number {
    return (this.intervalSec + slowDownStepSec * level) * 1000;
  }

  private async verdict(hash: string): Promise<'pass' | 'slow_down'> {
    let level = this.levels.get(hash) ?? 0;
    // At most twice past a retired level (found, then raced by another slow_down); then the poll passes.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const interval = this.intervalMs(level);
      const hit = await this.store.incr(paceKey(hash, level), interval);
      // (Redis keeps windows in whole seconds.)
      if (hit.remainingMs > Math.ceil(interval / 1000) * 1000) {
        // Retired: the device was slowed down at another instance. The count says where it is now.
        const slowed = (await this.store.peek(slowDownsKey(hash)))?.count ?? 0;
        level = Math.max(slowed, level + 1);
        this.remember(hash, level);
        continue;
      }
      if (hit.count === 1) return 'pass';
      await this.slowDown(hash, level);
      return 'slow_down';
    }
    return 'pass';
  }

  /** Moves the device from `level` to the next: counted, the next window opened at this poll, `level` retired. */
  private async slowDown(hash: string, level: number): Promise<void> {
    const next = level + 1;
    const [slowed] = await Promise.all([
      this.store.incr(slowDownsKey(hash), this.markerMs),
      this.store.incr(paceKey(hash, next), this.intervalMs(next)),
      this.store.incr(paceKey(hash, level), this.markerMs, { renew: true }),
    ]);
    let reached = next;
    if (slowed.count > next) {
      // Another instance slowed the same code down at the same moment: both count, the device is further on.
      reached = slowed.count;
      await Promise.all([
        this.store.incr(paceKey(hash, reached), this.intervalMs(reached)),
        ...Array.from({ length: reached - next }, (_, i) => this.store.incr(paceKey(hash, next + i), this.markerMs, { renew: true })),
      ]);
    }
    this.remember(hash, reached);
  }

  private remember(hash: string, level: number): void {
    if (this.levels.size >= maxRemembered) this.levels.clear();
    this.levels.set(hash, level);
  }

  private async guarded<T>(work: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const result = await work();
      if (this.failing) this.recovered();
      return result;
    } catch (err) {
      this.failed(err);
      return fallback;
    }
  }

  private recovered(): void {
    this.failing = false;
    this.logger?.info('device polling pace: the limiter store answers again; slow_down is counted again');
  }

  private failed(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger?.warn(
      { err },
      'device polling pace: the limiter store (security.rateLimits.store) cannot be reached; device polls pass without slow_down until it can',
    );
  }
}

/** One-shot SHA-256 (crypto.hash: no Hash object per poll). */
const hashOf = (deviceCode: string): string => hash('sha256', deviceCode, 'base64url');
const paceKey = (hash: string, level: number): string => `device.pace:${hash}:${level}`;
const slowDownsKey = (hash: string): string => `device.slowDowns:${hash}`;

/** A poll's form is a few hundred bytes; anything longer goes to oidc-provider. */
const shortcutBodyLimit = 4096;
const pollParams = ['client_id', 'device_code', 'grant_type'];

/**
 * The answer to a pending device poll, given in front of oidc-provider (issue
 * 14: the one request a device fleet sends most, thousands a second). Only a
 * poll whose answer is certain is answered here: a form POST to the token
 * endpoint with exactly `grant_type` (the device code grant), `client_id` and
 * `device_code`, once each; no Authorization, DPoP or Origin header; a JSON
 * answer accepted; a public client (`none`) allowed the grant, asking for no
 * DPoP or certificate binding; a device code of that client, not expired,
 * neither approved nor denied. Then, as oidc-provider's grant handler would
 * (with the pace of `PollingPace.install` in front), the answer is
 * `slow_down` or `authorization_pending`: the same status, JSON and
 * Cache-Control, the same one pace count. Everything else (tokens issued,
 * `expired_token`, `access_denied`, any error, a confidential client) goes on
 * to oidc-provider with the body replayed. oidc-provider's `grant.error`
 * event is not emitted for the polls answered here.
 */
export function answerPendingPolls(provider: Provider, pace: PollingPace, path: string): Middleware {
  const pending = new errors.AuthorizationPending();
  const slowDown = new errors.SlowDown();
  const answer = (ctx: Parameters<Middleware>[0], err: { error: string; error_description?: string | undefined }) => {
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: err.error, error_description: err.error_description };
    // The metrics' route label, as oidc-provider's router sets it.
    (ctx as { _matchedRoute?: string })._matchedRoute = path;
  };
  const shortcut = async (ctx: Parameters<Middleware>[0], next: () => Promise<unknown>): Promise<unknown> => {
    const declared = Number(ctx.get('content-length'));
    if (!(declared > 0 && declared <= shortcutBodyLimit)) return next();
    const { chunks, complete } = await readBody(ctx.req.iterator({ destroyOnReturn: false }), shortcutBodyLimit, declared);
    replaceRequestBody(ctx as unknown as Parameters<typeof replaceRequestBody>[0], chunks, complete ? {} : { rest: true });
    if (!complete) return next();
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const keys = [...form.keys()].sort();
    if (keys.length !== pollParams.length || keys.some((key, i) => key !== pollParams[i]) || form.get('grant_type') !== deviceCodeGrantType) return next();
    const clientId = form.get('client_id') ?? '';
    const deviceCode = form.get('device_code') ?? '';
    let certain = false;
    try {
      const client = await provider.Client.find(clientId);
      if (
        client &&
        client.clientAuthMethod === 'none' &&
        client.grantTypeAllowed(deviceCodeGrantType) &&
        !client.dpopBoundAccessTokens &&
        !client.tlsClientCertificateBoundAccessTokens
      ) {
        const code = await provider.DeviceCode.find(deviceCode, { ignoreExpiration: true });
        certain = Boolean(code && code.clientId === clientId && !code.isExpired && !code.accountId && !code.error);
      }
    } catch {
      // A store that fails, a malformed code: oidc-provider answers it its own way.
      certain = false;
    }
    if (!certain) return next();
    try {
      await pace.check(deviceCode);
    } catch (err) {
      if (!(err instanceof errors.SlowDown)) throw err;
      answer(ctx, slowDown);
      return undefined;
    }
    answer(ctx, pending);
    return undefined;
  };
  return (ctx, next) =>
    ctx.method === 'POST' &&
    ctx.path === path &&
    ctx.is('application/x-www-form-urlencoded') &&
    !ctx.get('authorization') &&
    !ctx.get('dpop') &&
    !ctx.get('origin') &&
    ctx.accepts('json', 'html') === 'json'
      ? shortcut(ctx, next)
      : next();
}
