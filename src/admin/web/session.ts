/**
 * Console sessions: a random id in the `gh.admin` cookie (HttpOnly,
 * SameSite=Lax, Secure on https, path `/admin`), its SHA-256 in the
 * `admin_session` table. Each request checks it against the injected clock:
 * idle longer than `adminConsole.idleTimeout`, or older than
 * `adminConsole.maxAge`, and it is gone. `last_seen_at` moves at most once a
 * minute. The sign-in's own short-lived state (OAuth `state`, the PKCE
 * verifier, the page asked for) travels in a signed HttpOnly cookie.
 */
import type { Context } from 'koa';
import { parseDurationSeconds } from '../../config/duration.ts';
import type { Gatehouse } from '../../context.ts';
import { deleteAdminSession, deleteStaleAdminSessions, findAdminSession, insertAdminSession, touchAdminSession } from '../../db/repos/admin-sessions.ts';
import { randomSecret, sha256 } from '../../lib/secrets.ts';
import { LoginCookie, type PendingLogin } from './login-cookie.ts';

export const sessionCookie = 'gh.admin';
export const loginCookie = 'gh.admin.login';

/** How often `last_seen_at` is written at most. */
const touchEveryMs = 60_000;

export interface ConsoleSession {
  /** The stored (hashed) id. */
  id: string;
  userId: string;
}

export type LoginState = PendingLogin;

export class ConsoleSessions {
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly loginMs: number;
  private readonly cookieOptions: { httpOnly: true; sameSite: 'lax'; secure: boolean; path: string; overwrite: true };
  private readonly login: LoginCookie;

  constructor(
    private readonly gh: Gatehouse,
    secure: boolean,
    /** The cookies' path: `${base}/admin`. */
    path: string,
  ) {
    this.idleMs = parseDurationSeconds(gh.config.adminConsole.idleTimeout) * 1000;
    this.maxAgeMs = parseDurationSeconds(gh.config.adminConsole.maxAge) * 1000;
    this.loginMs = parseDurationSeconds(gh.config.ttl.interaction) * 1000;
    this.cookieOptions = { httpOnly: true, sameSite: 'lax', secure, path, overwrite: true };
    this.login = new LoginCookie(loginCookie, this.cookieOptions, this.loginMs, gh.clock);
  }

  /** A new session for `userId`: its row, its cookie. Sessions that ran out meanwhile are swept. */
  async start(ctx: Context, userId: string): Promise<void> {
    const now = this.gh.clock.now();
    await deleteStaleAdminSessions(this.gh.db, now - this.idleMs, now - this.maxAgeMs);
    const value = randomSecret(32);
    await insertAdminSession(this.gh.db, { id: sha256(value), user_id: userId, created_at: now, last_seen_at: now });
    ctx.cookies.set(sessionCookie, value, this.cookieOptions);
  }

  /** The live session of this request, or undefined (a stale one is deleted and its cookie cleared). */
  async current(ctx: Context): Promise<ConsoleSession | undefined> {
    const value = ctx.cookies.get(sessionCookie);
    if (!value) return undefined;
    const id = sha256(value);
    const row = await findAdminSession(this.gh.db, id);
    const now = this.gh.clock.now();
    if (!row || now - row.last_seen_at >= this.idleMs || now - row.created_at >= this.maxAgeMs) {
      if (row) await deleteAdminSession(this.gh.db, id);
      ctx.cookies.set(sessionCookie, null, this.cookieOptions);
      return undefined;
    }
    if (now - row.last_seen_at >= touchEveryMs) await touchAdminSession(this.gh.db, id, now);
    return { id, userId: row.user_id };
  }

  /** Ends this request's session, if any: row and cookie. Returns the user whose session it was (undefined when there was none). */
  async end(ctx: Context): Promise<string | undefined> {
    const value = ctx.cookies.get(sessionCookie);
    let userId: string | undefined;
    if (value) {
      const id = sha256(value);
      userId = (await findAdminSession(this.gh.db, id))?.user_id;
      if (!(await deleteAdminSession(this.gh.db, id))) userId = undefined;
    }
    ctx.cookies.set(sessionCookie, null, this.cookieOptions);
    return userId;
  }

  /** Starts a sign-in: a fresh state and PKCE verifier, kept in the signed login cookie (./login-cookie.ts). */
  beginLogin(ctx: Context, next: string): LoginState {
    return this.login.begin(ctx, next);
  }

  /** The sign-in this browser began (and forgets it): undefined when missing, forged or too old. */
  finishLogin(ctx: Context): LoginState | undefined {
    return this.login.finish(ctx);
  }
}
