/**
 * People's pages sessions (`account_session`): one row per signed-in browser
 * at `/account` and `/review`, keyed by the SHA-256 of its cookie's random id
 * (the caller hashes; no plain id is stored), with the Gatehouse sign-in
 * (oidc-provider session uid) it came from. Also what the Security page reads
 * of oidc-provider's rows for one account (`oidc_model` by `account_id`, on
 * its index). Whether a session is still good is the caller's decision.
 */
import type { DbOrTrx } from '../knex.ts';
import type { OidcModelRow } from './oidc-models.ts';

export interface AccountSessionRow {
  /** sha256(cookie value), hex. */
  id: string;
  user_id: string;
  oidc_session_uid: string | null;
  created_at: number;
  last_seen_at: number;
  /** When the person last proved who they are in this session (password, code, fresh sign-in); null: not yet. */
  reauthenticated_at?: number | null;
}

export async function insertAccountSession(db: DbOrTrx, row: AccountSessionRow): Promise<void> {
  await db('account_session').insert(row);
}

export async function findAccountSession(db: DbOrTrx, id: string): Promise<AccountSessionRow | undefined> {
  return db('account_session').where({ id }).first();
}

/** Moves last_seen_at forward (never back: two requests may race). */
export async function touchAccountSession(db: DbOrTrx, id: string, now: number): Promise<void> {
  await db('account_session').where({ id }).andWhere('last_seen_at', '<', now).update({ last_seen_at: now });
}

/** Records that the person proved who they are in this session at `at` (never moved back). */
export async function markAccountSessionReauthenticated(db: DbOrTrx, id: string, at: number): Promise<void> {
  await db('account_session')
    .where({ id })
    .andWhere((q) => q.whereNull('reauthenticated_at').orWhere('reauthenticated_at', '<', at))
    .update({ reauthenticated_at: at });
}

export async function deleteAccountSession(db: DbOrTrx, id: string): Promise<boolean> {
  return (await db('account_session').where({ id }).delete()) === 1;
}

/** Sessions idle since before `idleBefore` or begun before `createdBefore`; returns how many went. */
export async function deleteStaleAccountSessions(db: DbOrTrx, idleBefore: number, createdBefore: number): Promise<number> {
  return db('account_session').where('last_seen_at', '<', idleBefore).orWhere('created_at', '<', createdBefore).delete();
}

/** Every account session of a user but `keepId` (when given); returns how many went. */
export async function deleteAccountSessionsOfUser(db: DbOrTrx, userId: string, keepId?: string): Promise<number> {
  const query = db('account_session').where({ user_id: userId });
  if (keepId) query.andWhereNot({ id: keepId });
  return query.delete();
}

/** The account sessions of a user that came from one Gatehouse sign-in; returns how many went. */
export async function deleteAccountSessionsOfOidcSession(db: DbOrTrx, userId: string, oidcSessionUid: string): Promise<number> {
  return db('account_session').where({ user_id: userId, oidc_session_uid: oidcSessionUid }).delete();
}

/** oidc-provider's rows of these kinds for one account, not consumed, not expired at `now`, oldest first. */
export async function listModelsOfAccount(db: DbOrTrx, accountId: string, kinds: readonly string[], now: number): Promise<OidcModelRow[]> {
  return db('oidc_model')
    .where({ account_id: accountId })
    .whereIn('kind', kinds)
    .whereNull('consumed_at')
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
    .orderBy('id');
}

/** Everything oidc-provider holds for an account except one Gatehouse session (by uid); returns how many rows went. */
export async function destroyModelsOfAccountExcept(db: DbOrTrx, accountId: string, keepSessionUid: string): Promise<number> {
  return db('oidc_model')
    .where({ account_id: accountId })
    .andWhere((q) => q.whereNot({ kind: 'Session' }).orWhereNull('uid').orWhereNot({ uid: keepSessionUid }))
    .delete();
}
