/**
 * RFC 8628 polling rules oidc-provider leaves out: the device authorization
 * response carries `interval`, and a device that polls the token endpoint
 * faster than that gets `slow_down` (and must wait 5 seconds longer from then
 * on, §3.5). The last poll of each device code is kept in memory, per
 * instance: behind a load balancer a device may poll each instance at the
 * interval, which only makes the limit looser, never wrong.
 */
import type { Middleware } from 'koa';
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import { wrapGrantHandler } from './internals.ts';
import type { Clock } from '../lib/clock.ts';

export const defaultIntervalSec = 5;
const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

export class PollingPace {
  private readonly polls = new Map<string, { at: number; interval: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalSec = defaultIntervalSec,
  ) {}

  /** Throws `slow_down` when this device code was polled less than its interval ago. */
  check(deviceCode: string): void {
    const now = this.clock.now();
    const last = this.polls.get(deviceCode);
    if (this.polls.size > 100_000) this.prune(now);
    if (last && now - last.at < last.interval * 1000) {
      this.polls.set(deviceCode, { at: now, interval: last.interval + 5 });
      throw new errors.SlowDown();
    }
    this.polls.set(deviceCode, { at: now, interval: last?.interval ?? this.intervalSec });
  }

  forget(deviceCode: string): void {
    this.polls.delete(deviceCode);
  }

  private prune(now: number): void {
    for (const [code, poll] of this.polls) if (now - poll.at > 30 * 60_000) this.polls.delete(code);
  }

  /** oidc-provider's device_code grant handler, with the pace check in front. */
  install(provider: Provider): void {
    wrapGrantHandler(provider, deviceCodeGrantType, (original) => async (ctx: KoaContextWithOIDC) => {
      const deviceCode = String(ctx.oidc.params?.device_code ?? '');
      this.check(deviceCode);
      await original(ctx);
      this.forget(deviceCode);
    });
  }

  /** Adds `interval` to the device authorization response (at `path` inside the issuer). */
  announce(path: string): Middleware {
    const interval = this.intervalSec;
    return async (ctx, next) => {
      await next();
      if (ctx.method === 'POST' && ctx.path === path && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && 'device_code' in ctx.body) {
        (ctx.body as Record<string, unknown>).interval = interval;
      }
    };
  }
}
