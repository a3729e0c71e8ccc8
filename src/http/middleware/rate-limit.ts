/**
 * The per-IP rate limits of Gatehouse's HTTP layer, their numbers from
 * `security.rateLimits` (config/schema.ts): wrong device user codes, token
 * entries and join requests at the gate, self sign-ups, device enrollments.
 * Each is a window of `max` from the first attempt (lib/limiter-store.ts), counted in
 * the store `security.rateLimits.store` names, so instances on one database (or
 * one Redis) share them; the database and memory stores run on the injected clock,
 * so tests move time instead of waiting. Password sign-in has its own throttle in
 * the domain (identity/login-throttle.ts), per account as well as per IP.
 */
import type { Middleware } from 'koa';
import { parseDurationSeconds } from '../../config/duration.ts';
import type { Config } from '../../config/schema.ts';
import { GatehouseError } from '../../errors.ts';
import { Limiter, type LimiterStore } from '../../lib/limiter-store.ts';

export type RateLimitName = Exclude<keyof Config['security']['rateLimits'], 'store'>;

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

/**
 * Builds the limits over the one store. The same name (and scope) is the same
 * count, on every instance: each issuer counts its gate and sign-ups on its
 * own by passing its issuer's path as `scope`.
 */
export class RateLimits {
  private readonly limits: Record<RateLimitName, RateLimit>;

  constructor(
    config: Config,
    private readonly store: LimiterStore,
  ) {
    this.limits = rateLimitsOf(config);
  }

  window(name: RateLimitName, scope?: string): Limiter {
    const { max, windowMs } = this.limits[name];
    return new Limiter(this.store, scope ? `${name}@${scope}` : name, max, windowMs);
  }

  /**
   * A window of one per IP over `name`'s window: the first refusal of each
   * address and window is audited, later ones are not, so a flood cannot flood the log.
   */
  firstRefusals(name: RateLimitName): Limiter {
    return new Limiter(this.store, `${name}.refused`, 1, this.limits[name].windowMs);
  }
}

/**
 * Wrong user codes at the device code page (`codePath`, POST). User codes are
 * short (8 of 20 letters): RFC 8628 §5.1 asks to limit guesses. Wrong codes
 * are counted per IP only, however many browser sessions the IP opens; over
 * the limit the code page answers 429 until the window has passed. Form
 * problems (403) and confirmations (200) do not count: only a 400 does.
 */
export function wrongDeviceCodes(perIp: Limiter, codePath: string): Middleware {
  const counted: Middleware = async (ctx, next) => {
    if (!(await perIp.allows(ctx.ip))) {
      throw new GatehouseError('rate_limited', 'Too many wrong codes. Wait a few minutes, check the code on your device, and try again.');
    }
    await next();
    if (ctx.status === 400) await perIp.hit(ctx.ip);
  };
  // Every other request passes straight on (no async frame of its own: the token endpoint's polls go through here).
  return (ctx, next) => (ctx.method === 'POST' && ctx.path === codePath ? counted(ctx, next) : next());
}
