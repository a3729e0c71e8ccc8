/**
 * A sign-in through Gatehouse's own built-in clients (the console, the
 * people's pages) in flight: its `state`, PKCE verifier and where to land,
 * kept in a signed HttpOnly cookie of its own until the callback, for at most
 * `ttlMs` on the injected clock, and forgotten when read (single use).
 */
import type { Context } from 'koa';
import type { Clock } from '../../lib/clock.ts';
import { randomSecret } from '../../lib/secrets.ts';

export interface PendingLogin {
  state: string;
  verifier: string;
  /** The path to land on, below the issuer's path. */
  next: string;
  /** When the sign-in began (the injected clock, ms). */
  at: number;
}

export interface LoginCookieOptions {
  httpOnly: true;
  sameSite: 'lax';
  secure: boolean;
  path: string;
  overwrite: true;
}

export class LoginCookie {
  constructor(
    private readonly name: string,
    private readonly options: LoginCookieOptions,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  /** Starts a sign-in: a fresh state and PKCE verifier, kept in the signed cookie. */
  begin(ctx: Context, next: string): PendingLogin {
    const login: PendingLogin = { state: randomSecret(16), verifier: randomSecret(32), next, at: this.clock.now() };
    ctx.cookies.set(this.name, Buffer.from(JSON.stringify(login)).toString('base64url'), { ...this.options, signed: true, maxAge: this.ttlMs });
    return login;
  }

  /** The sign-in this browser began (and forgets it): undefined when missing, forged or too old. */
  finish(ctx: Context): PendingLogin | undefined {
    const raw = ctx.cookies.get(this.name, { signed: true });
    ctx.cookies.set(this.name, null, { ...this.options, signed: true });
    if (!raw) return undefined;
    let login: Partial<PendingLogin>;
    try {
      login = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PendingLogin>;
    } catch {
      return undefined;
    }
    const { state, verifier, next, at } = login;
    if (typeof state !== 'string' || typeof verifier !== 'string' || typeof next !== 'string' || typeof at !== 'number') return undefined;
    if (this.clock.now() - at > this.ttlMs) return undefined;
    return { state, verifier, next, at };
  }
}
