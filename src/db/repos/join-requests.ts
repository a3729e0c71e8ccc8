/** Join requests, their single-use approval links, and identities waiting at the gate. */
import { fastRead, insertUnique, lockRows } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';
import { SqliteTx } from '../sqlite-statements.ts';
import type { DbOrTx } from '../transaction.ts';

export type JoinRequestStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface JoinRequestRow {
  id: string;
  kind: 'join' | 'access';
  connector_id: string;
  subject: string;
  user_id: string | null;
  email: string;
  name: string | null;
  message: string | null;
  client_id: string;
  status: JoinRequestStatus;
  decided_by: string | null;
  decided_at: number | null;
  acl_token_id: string | null;
  redeemed_at: number | null;
  created_at: number;
  /** The note an approver gave with the decision (`/review`); null when none. */
  decision_note: string | null;
}

export interface ApprovalLinkRow {
  token_hash: string;
  join_request_id: string;
  action: 'approve' | 'deny';
  approver: string;
  expires_at: number;
  used_at: number | null;
}

export interface PendingIdentityRow {
  interaction_uid: string;
  connector_id: string;
  subject: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  expires_at: number;
}

export async function insertJoinRequest(db: DbOrTrx, row: JoinRequestRow): Promise<void> {
  await insertUnique(db('join_request').insert(row), `join request ${row.id}`);
}

export async function findJoinRequest(db: DbOrTrx, id: string): Promise<JoinRequestRow | undefined> {
  return db('join_request').where({ id }).first();
}

export async function listJoinRequests(db: DbOrTrx, status?: JoinRequestStatus): Promise<JoinRequestRow[]> {
  const q = db('join_request').orderBy('created_at').orderBy('id');
  return status ? q.where({ status }) : q;
}

/** Moves a request out of `pending`; false if someone else decided first. */
export async function decideJoinRequest(
  db: DbOrTrx,
  id: string,
  patch: Pick<JoinRequestRow, 'status' | 'decided_by' | 'decided_at'> & { acl_token_id?: string | null; decision_note?: string | null },
): Promise<boolean> {
  return (await db('join_request').where({ id, status: 'pending' }).update(patch)) === 1;
}

/** Approved, unredeemed requests of one identity for one client (let in at its next login). */
export async function findApprovedUnredeemed(db: DbOrTx, connectorId: string, subject: string, clientId: string): Promise<JoinRequestRow[]> {
  if (db instanceof SqliteTx)
    return db.all(
      "select * from join_request where connector_id = ? and subject = ? and client_id = ? and status = 'approved' and redeemed_at is null and acl_token_id is not null order by decided_at",
      connectorId,
      subject,
      clientId,
    );
  return db('join_request')
    .where({ connector_id: connectorId, subject, client_id: clientId, status: 'approved' })
    .whereNull('redeemed_at')
    .whereNotNull('acl_token_id')
    .orderBy('decided_at');
}

export async function markJoinRequestRedeemed(db: DbOrTx, id: string, now: number): Promise<boolean> {
  if (db instanceof SqliteTx) return db.run('update join_request set redeemed_at = ? where id = ? and redeemed_at is null', now, id) === 1;
  return (await db('join_request').where({ id }).whereNull('redeemed_at').update({ redeemed_at: now })) === 1;
}

export async function findPendingJoinRequest(db: DbOrTrx, connectorId: string, subject: string, clientId: string): Promise<JoinRequestRow | undefined> {
  return db('join_request').where({ connector_id: connectorId, subject, client_id: clientId, status: 'pending' }).orderBy('created_at').first();
}

export async function insertApprovalLink(db: DbOrTrx, row: ApprovalLinkRow): Promise<void> {
  await insertUnique(db('approval_link').insert(row), 'approval link');
}

export async function findApprovalLink(db: DbOrTrx, tokenHash: string): Promise<ApprovalLinkRow | undefined> {
  return db('approval_link').where({ token_hash: tokenHash }).first();
}

export async function useApprovalLink(db: DbOrTrx, tokenHash: string, now: number): Promise<boolean> {
  return (await db('approval_link').where({ token_hash: tokenHash }).whereNull('used_at').andWhere('expires_at', '>', now).update({ used_at: now })) === 1;
}

export async function upsertPendingIdentity(db: DbOrTrx, row: PendingIdentityRow): Promise<void> {
  await db('pending_identity').insert(row).onConflict('interaction_uid').merge();
}

export async function findPendingIdentity(db: DbOrTrx, uid: string, now: number): Promise<PendingIdentityRow | undefined> {
  type Stored = Omit<PendingIdentityRow, 'email_verified'> & { email_verified: boolean | number };
  const fast = await fastRead<Stored>(db, 'select * from pending_identity where interaction_uid = ? and expires_at > ? limit 1', uid, now);
  const row: Stored | undefined = fast ? fast[0] : await db('pending_identity').where({ interaction_uid: uid }).andWhere('expires_at', '>', now).first();
  return row && { ...row, email_verified: Boolean(row.email_verified) };
}

export async function deletePendingIdentity(db: DbOrTrx, uid: string): Promise<void> {
  await db('pending_identity').where({ interaction_uid: uid }).delete();
}

// --- Quorum (`clients[].approvals`) and the approver's review page (`/review`) ---

/** One approver's counted approval of a request (quorum). */
export interface JoinRequestApprovalRow {
  join_request_id: string;
  /** Lower-cased e-mail address. */
  approver: string;
  decided_at: number;
}

/**
 * Takes the request's row lock until the transaction ends, so the deciders of
 * one request take turns: the approvals counted under it cannot change before
 * the count is acted on (PostgreSQL: FOR UPDATE; SQLite: the write lock).
 */
export async function lockJoinRequest(trx: DbOrTrx, id: string): Promise<void> {
  await lockRows(trx, trx('join_request').where({ id }).select('id'));
}

/** Counts one approver's approval once: false when it was counted already. Call under lockJoinRequest. */
export async function insertJoinRequestApproval(db: DbOrTrx, row: JoinRequestApprovalRow): Promise<boolean> {
  if (await db('join_request_approval').where({ join_request_id: row.join_request_id, approver: row.approver }).first()) return false;
  await insertUnique(db('join_request_approval').insert(row), 'approval');
  return true;
}

/** The approvals counted for these requests, oldest first. */
export async function listJoinRequestApprovals(db: DbOrTrx, ids: string[]): Promise<JoinRequestApprovalRow[]> {
  if (ids.length === 0) return [];
  return db('join_request_approval').whereIn('join_request_id', ids).orderBy('decided_at').orderBy('approver');
}

/** Pending requests for these clients, oldest first. */
export async function listPendingJoinRequestsFor(db: DbOrTrx, clientIds: string[]): Promise<JoinRequestRow[]> {
  if (clientIds.length === 0) return [];
  return db('join_request').where({ status: 'pending' }).whereIn('client_id', clientIds).orderBy('created_at').orderBy('id');
}

export interface AccessHolderRow {
  client_id: string;
  user_id: string;
  email: string | null;
  name: string | null;
  /** When the access ends (the latest live client token); null = no end. */
  expires_at: number | null;
}

/**
 * Who holds live access to these clients now, one row per user and client:
 * the access query of acl-tokens.ts (a non-revoked ACL token linking a live
 * client token), listed with the users' names.
 */
export async function listAccessHolders(db: DbOrTrx, clientIds: string[], now: number): Promise<AccessHolderRow[]> {
  if (clientIds.length === 0) return [];
  type Row = Omit<AccessHolderRow, 'expires_at'> & { expires_at: number | string | null; unending: number | string };
  const rows = (await db('user_acl_token as u')
    .join('acl_token as a', 'a.id', 'u.acl_token_id')
    .join('acl_token_client_token as l', 'l.acl_token_id', 'a.id')
    .join('client_token as c', 'c.id', 'l.client_token_id')
    .join('user as p', 'p.id', 'u.user_id')
    .whereIn('c.client_id', clientIds)
    .whereNull('a.revoked_at')
    .whereNull('c.revoked_at')
    .andWhere((q) => q.whereNull('c.expires_at').orWhere('c.expires_at', '>', now))
    .groupBy('c.client_id', 'u.user_id', 'p.email', 'p.name')
    .select('c.client_id', 'u.user_id', 'p.email', 'p.name')
    .max({ expires_at: 'c.expires_at' })
    .select(db.raw('sum(case when c.expires_at is null then 1 else 0 end) as unending'))
    .orderBy('c.client_id')
    .orderBy('p.email')) as Row[];
  return rows.map((r) => ({
    client_id: r.client_id,
    user_id: r.user_id,
    email: r.email,
    name: r.name,
    expires_at: Number(r.unending) > 0 || r.expires_at === null ? null : Number(r.expires_at),
  }));
}

/**
 * The requests a user made, newest first: access requests filed as that user
 * and join requests filed by one of their identities (connector + subject)
 * before the account existed. Matched on identities, not on the e-mail
 * address typed into a join form, which anyone may type.
 */
export async function listJoinRequestsOfUser(db: DbOrTrx, userId: string): Promise<JoinRequestRow[]> {
  return db('join_request as j')
    .where('j.user_id', userId)
    .orWhereExists((q) =>
      q
        .select('i.user_id')
        .from('user_idp as i')
        .where('i.user_id', userId)
        .whereRaw('?? = ??', ['i.connector_id', 'j.connector_id'])
        .whereRaw('?? = ??', ['i.subject', 'j.subject']),
    )
    .select('j.*')
    .orderBy('j.created_at', 'desc')
    .orderBy('j.id', 'desc');
}
