/**
 * The per-IP rate limits of Gatehouse's HTTP layer, their numbers from
 * `security.rateLimits` (config/schema.ts): wrong device user codes, token
 * entries and join requests at the gate, self sign-ups, device enrollments.
 * Each is a sliding window over the injected clock, so tests move time instead
 * of waiting. Password sign-in has its own throttle in the domain
 * (identity/login-throttle.ts), per account as well as per IP.
 */
import type { Middleware } from 'koa';
import { parseDurationSeconds } from '../../config/duration.ts';
import type { Config } from '../../config/schema.ts';
import { GatehouseError } from '../../errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { SlidingWindow } from '../../lib/throttle.ts';

export type RateLimitName = keyof Config['security']['rateLimits'];

export interface RateLimit {
  max: number;
  windowMs: number;
}

/** The limits as configured; device enrollment's `max` falls back to `deviceRegistration.rateLimit` (its older key). */
export function rateLimitsOf(config: Config): Record<RateLimitName, RateLimit> {
  const { deviceCodes, gate, signup, deviceRegistration, admin, passwordReset } = config.security.rateLimits;
  const of = (max: number, window: string): RateLimit => ({ max, windowMs: parseDurationSeconds(window) * 1000 });
  return {
    deviceCodes: of(deviceCodes.max, deviceCodes.window),
    gate: of(gate.max, gate.window),
    signup: of(signup.max, signup.window),
    deviceRegistration: of(deviceRegistration.max ?? config.deviceRegistration.rateLimit, deviceRegistration.window),
    admin: of(admin.max, admin.window),
    passwordReset: of(passwordReset.max, passwordReset.window),
  };
}

/** Builds the counting windows, one per call: each issuer counts its gate and sign-ups on its own. */
export class RateLimits {
  private readonly limits: Record<RateLimitName, RateLimit>;

  constructor(
    config: Config,
    private readonly clock: Clock,
  ) {
    this.limits = rateLimitsOf(config);
  }

  window(name: RateLimitName): SlidingWindow {
    const { max, windowMs } = this.limits[name];
    return new SlidingWindow(max, windowMs, () => this.clock.now());
  }

  /**
   * A window of one per IP over `name`'s window: the first refusal of each
   * address and window is audited, later ones are not, so a flood cannot flood the log.
   */
  firstRefusals(name: RateLimitName): SlidingWindow {
    return new SlidingWindow(1, this.limits[name].windowMs, () => this.clock.now());
  }
}

/**
 * Wrong user codes at the device code page (`codePath`, POST). User codes are
 * short (8 of 20 letters): RFC 8628 §5.1 asks to limit guesses. Wrong codes
 * are counted per IP only, however many browser sessions the IP opens; over
 * the limit the code page answers 429 until the window has passed. Form
 * problems (403) and confirmations (200) do not count: only a 400 does.
 */
export function wrongDeviceCodes(perIp: SlidingWindow, codePath: string): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== codePath) return next();
    if (!perIp.allows(ctx.ip)) {
      throw new GatehouseError('rate_limited', 'Too many wrong codes. Wait a few minutes, check the code on your device, and try again.');
    }
    await next();
    if (ctx.status === 400) perIp.hit(ctx.ip);
  };
}
