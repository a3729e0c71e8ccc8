/**
 * A person's sign-ins, as the Security page at `/account/security` lists and
 * ends them: oidc-provider's sessions (a browser signed in to Gatehouse) and
 * refresh tokens (an app or a device kept signed in: the device grant's are
 * "device sign-ins"), read from the adapter's rows of that account
 * (`oidc_model.account_id`), plus the people's pages' own sessions
 * (`account_session`), which end with the Gatehouse sign-in they came from.
 *
 * Ending a session removes that Gatehouse sign-in (the browser is asked for
 * its password again); ending a refresh token removes its grant and every
 * token issued under it (the app's next refresh is `invalid_grant`).
 * Everything at once ("sign out everywhere") removes every row of the
 * account, as disabling it does.
 */
import type { Db } from '../db/knex.ts';
import {
  deleteAccountSessionsOfOidcSession,
  deleteAccountSessionsOfUser,
  destroyModelsOfAccountExcept,
  listModelsOfAccount,
} from '../db/repos/account-sessions.ts';
import { destroyByAccountId, destroyByGrantId, destroyModel } from '../db/repos/oidc-models.ts';
import { withTransaction } from '../db/transaction.ts';
import { sha256 } from '../lib/secrets.ts';

export const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

export interface SignIn {
  /** `session`: a browser signed in to Gatehouse; `refresh`: an app or device holding a refresh token. */
  kind: 'session' | 'refresh';
  /**
   * What ending it names: a hash of the row's id, never the id itself (a
   * session's id is its cookie value, a refresh token's id is the token).
   */
  handle: string;
  /** The clients it is for (a session: every app signed in through it). */
  clientIds: string[];
  /** A refresh token from the device flow. */
  device: boolean;
  /** When it began (ms). */
  createdAt: number | null;
  /** When it was last used, when known (a refresh token's last rotation, ms). */
  lastUsedAt: number | null;
  /** Until when it lasts (ms), when it expires. */
  expiresAt: number | null;
  /** This browser's own Gatehouse sign-in. */
  current: boolean;
}

interface SessionPayload {
  uid?: string;
  loginTs?: number;
  authorizations?: Record<string, unknown>;
}

interface RefreshPayload {
  clientId?: string;
  grantId?: string;
  gty?: string;
  iat?: number;
  iiat?: number;
  rotations?: number;
}

/** A sign-in's handle: what the page shows and sends back instead of the row's id. */
export function handleOf(kind: string, id: string): string {
  return sha256(`${kind}:${id}`).slice(0, 32);
}

const seconds = (value: unknown): number | null => (typeof value === 'number' ? value * 1000 : null);

function parse<T>(payload: string): T {
  try {
    return JSON.parse(payload) as T;
  } catch {
    return {} as T;
  }
}

/** The account's live sessions (newest sign-in first), then its live refresh tokens (newest first). */
export async function listSignIns(db: Db, accountId: string, now: number, currentSessionUid?: string | null): Promise<SignIn[]> {
  const rows = await listModelsOfAccount(db, accountId, ['Session', 'RefreshToken'], now);
  const sessions: SignIn[] = [];
  const refreshes: SignIn[] = [];
  for (const row of rows) {
    if (row.kind === 'Session') {
      const p = parse<SessionPayload>(row.payload);
      sessions.push({
        kind: 'session',
        handle: handleOf(row.kind, row.id),
        clientIds: Object.keys(p.authorizations ?? {}),
        device: false,
        createdAt: seconds(p.loginTs),
        lastUsedAt: null,
        expiresAt: row.expires_at,
        current: !!currentSessionUid && (row.uid ?? p.uid) === currentSessionUid,
      });
    } else {
      const p = parse<RefreshPayload>(row.payload);
      const rotated = typeof p.rotations === 'number' && p.rotations > 0;
      refreshes.push({
        kind: 'refresh',
        handle: handleOf(row.kind, row.id),
        clientIds: p.clientId ? [p.clientId] : [],
        device: (p.gty ?? '').split(' ').includes(deviceCodeGrantType),
        createdAt: seconds(p.iiat ?? p.iat),
        lastUsedAt: rotated ? seconds(p.iat) : null,
        expiresAt: row.expires_at,
        current: false,
      });
    }
  }
  const newestFirst = (a: SignIn, b: SignIn) => (b.createdAt ?? 0) - (a.createdAt ?? 0);
  return [...sessions.sort(newestFirst), ...refreshes.sort(newestFirst)];
}

/**
 * Ends one live sign-in of the account, named by its handle: a session (and
 * the people's pages' sessions that came from it) or a refresh token's grant
 * with everything issued under it. Returns what it was, or undefined when the
 * account has no such live sign-in (ended meanwhile, or not theirs).
 */
export async function endSignIn(db: Db, accountId: string, handle: string, now: number): Promise<SignIn['kind'] | undefined> {
  return withTransaction(db, async (trx) => {
    const rows = await listModelsOfAccount(trx, accountId, ['Session', 'RefreshToken'], now);
    const row = rows.find((r) => handleOf(r.kind, r.id) === handle);
    if (!row) return undefined;
    if (row.kind === 'Session') {
      await destroyModel(trx, 'Session', row.id);
      const uid = row.uid ?? parse<SessionPayload>(row.payload).uid;
      if (uid) await deleteAccountSessionsOfOidcSession(trx, accountId, uid);
      return 'session';
    }
    const grantId = row.grant_id ?? parse<RefreshPayload>(row.payload).grantId;
    if (grantId) await destroyByGrantId(trx, grantId);
    await destroyModel(trx, 'RefreshToken', row.id);
    return 'refresh';
  });
}

/** "Sign out everywhere": every session, grant and token of the account, and every people's-pages session. Returns how many rows went. */
export async function endAllSignIns(db: Db, accountId: string): Promise<number> {
  return withTransaction(db, async (trx) => (await destroyByAccountId(trx, accountId)) + (await deleteAccountSessionsOfUser(trx, accountId)));
}

/**
 * After a password change: everything of the account but this browser's own
 * Gatehouse session and people's-pages session (every other session, every
 * grant, access and refresh token). Returns how many rows went.
 */
export async function endOtherSignIns(db: Db, accountId: string, keep: { oidcSessionUid: string | null; accountSessionId: string }): Promise<number> {
  return withTransaction(db, async (trx) => {
    const models = keep.oidcSessionUid ? await destroyModelsOfAccountExcept(trx, accountId, keep.oidcSessionUid) : await destroyByAccountId(trx, accountId);
    return models + (await deleteAccountSessionsOfUser(trx, accountId, keep.accountSessionId));
  });
}
