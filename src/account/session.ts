/**
 * People's pages sessions (`/account`, `/review`): a random id in the
 * `gh.account` cookie (HttpOnly, SameSite=Lax, Secure on https, path `/`
 * below the issuer's: both `/account` and `/review` need it), its SHA-256 in
 * the `account_session` table with the Gatehouse sign-in it came from. Each
 * request checks it against the injected clock: idle longer than an hour, or
 * older than twelve, or the Gatehouse sign-in it came from has ended, and it
 * is gone. `last_seen_at` moves at most once a
 * minute. The sign-in's own short-lived state (OAuth `state`, the PKCE
 * verifier, the page asked for) travels in a signed HttpOnly cookie.
 *
 * A table of its own rather than the console's `admin_session`: a person's
 * cookie never opens the console, and a password change or "sign out
 * everywhere" ends account sessions without touching an admin's console.
 */
import type { Context } from 'koa';
import { parseDurationSeconds } from '../config/duration.ts';
import type { Gatehouse } from '../context.ts';
import {
  deleteAccountSession,
  deleteStaleAccountSessions,
  findAccountSession,
  insertAccountSession,
  touchAccountSession,
} from '../db/repos/account-sessions.ts';
import { findModelBy } from '../db/repos/oidc-models.ts';
import { randomSecret, sha256 } from '../lib/secrets.ts';
import { LoginCookie, type PendingLogin } from '../admin/web/login-cookie.ts';

export const accountSessionCookie = 'gh.account';
export const accountLoginCookie = 'gh.account.login';

/** A session ends after this long without a request… */
export const accountIdleMs = 60 * 60_000;
/** …and after this long in any case. */
export const accountMaxAgeMs = 12 * 60 * 60_000;
/** How often `last_seen_at` is written at most. */
const touchEveryMs = 60_000;

export interface AccountSession {
  /** The stored (hashed) id. */
  id: string;
  userId: string;
  /** The Gatehouse sign-in (oidc-provider session uid) it came from. */
  oidcSessionUid: string | null;
  /** When the person last proved who they are here (injected clock, ms; account/pages/reauth.ts), or null. */
  reauthenticatedAt: number | null;
}

export type AccountLoginState = PendingLogin;

export class AccountSessions {
  private readonly loginMs: number;
  private readonly cookieOptions: { httpOnly: true; sameSite: 'lax'; secure: boolean; path: string; overwrite: true };
  private readonly login: LoginCookie;

  constructor(
    private readonly gh: Gatehouse,
    secure: boolean,
    /** The cookies' path: `${base}/` (the pages live below two prefixes). */
    path: string,
  ) {
    this.loginMs = parseDurationSeconds(gh.config.ttl.interaction) * 1000;
    this.cookieOptions = { httpOnly: true, sameSite: 'lax', secure, path, overwrite: true };
    this.login = new LoginCookie(accountLoginCookie, this.cookieOptions, this.loginMs, gh.clock);
  }

  /**
   * A new session for `userId`: its row, its cookie. Sessions that ran out meanwhile are swept.
   * `reauthenticatedAt`: when the sign-in that made it proved who the person is (a fresh sign-in counts).
   */
  async start(ctx: Context, userId: string, oidcSessionUid: string | undefined, reauthenticatedAt: number | null = null): Promise<void> {
    const now = this.gh.clock.now();
    await deleteStaleAccountSessions(this.gh.db, now - accountIdleMs, now - accountMaxAgeMs);
    const value = randomSecret(32);
    await insertAccountSession(this.gh.db, {
      id: sha256(value),
      user_id: userId,
      oidc_session_uid: oidcSessionUid ?? null,
      created_at: now,
      last_seen_at: now,
      reauthenticated_at: reauthenticatedAt,
    });
    ctx.cookies.set(accountSessionCookie, value, this.cookieOptions);
  }

  /** The live session of this request, or undefined (a stale one is deleted and its cookie cleared). */
  async current(ctx: Context): Promise<AccountSession | undefined> {
    const value = ctx.cookies.get(accountSessionCookie);
    if (!value) return undefined;
    const id = sha256(value);
    const row = await findAccountSession(this.gh.db, id);
    const now = this.gh.clock.now();
    if (!row || now - row.last_seen_at >= accountIdleMs || now - row.created_at >= accountMaxAgeMs || !(await this.signInLives(row.oidc_session_uid, now))) {
      if (row) await deleteAccountSession(this.gh.db, id);
      this.clear(ctx);
      return undefined;
    }
    if (now - row.last_seen_at >= touchEveryMs) await touchAccountSession(this.gh.db, id, now);
    return { id, userId: row.user_id, oidcSessionUid: row.oidc_session_uid, reauthenticatedAt: row.reauthenticated_at ?? null };
  }

  /**
   * Whether the Gatehouse sign-in an account session came from still lives:
   * when it ends (sign-out at Gatehouse, sign out everywhere, a password
   * reset, the user disabled), the account session ends with it.
   */
  private async signInLives(oidcSessionUid: string | null, now: number): Promise<boolean> {
    if (!oidcSessionUid) return true;
    const session = await findModelBy(this.gh.db, 'Session', 'uid', oidcSessionUid);
    return !!session && (session.expires_at === null || session.expires_at > now);
  }

  /** Ends this request's session, if any: row and cookie. Returns the user whose session it was. */
  async end(ctx: Context): Promise<string | undefined> {
    const value = ctx.cookies.get(accountSessionCookie);
    let userId: string | undefined;
    if (value) {
      const id = sha256(value);
      userId = (await findAccountSession(this.gh.db, id))?.user_id;
      if (!(await deleteAccountSession(this.gh.db, id))) userId = undefined;
    }
    this.clear(ctx);
    return userId;
  }

  /** Forgets the session cookie (its row is gone already). */
  clear(ctx: Context): void {
    ctx.cookies.set(accountSessionCookie, null, this.cookieOptions);
  }

  /** Starts a sign-in: a fresh state and PKCE verifier, kept in the signed login cookie (./login-cookie.ts). */
  beginLogin(ctx: Context, next: string): AccountLoginState {
    return this.login.begin(ctx, next);
  }

  /** The sign-in this browser began (and forgets it): undefined when missing, forged or too old. */
  finishLogin(ctx: Context): AccountLoginState | undefined {
    return this.login.finish(ctx);
  }
}
