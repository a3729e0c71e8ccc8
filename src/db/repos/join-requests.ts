/** Join requests, their single-use approval links, and identities waiting at the gate. */
import { insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

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
  patch: Pick<JoinRequestRow, 'status' | 'decided_by' | 'decided_at'> & { acl_token_id?: string | null },
): Promise<boolean> {
  return (await db('join_request').where({ id, status: 'pending' }).update(patch)) === 1;
}

/** Approved, unredeemed requests of one identity for one client (let in at its next login). */
export async function findApprovedUnredeemed(db: DbOrTrx, connectorId: string, subject: string, clientId: string): Promise<JoinRequestRow[]> {
  return db('join_request')
    .where({ connector_id: connectorId, subject, client_id: clientId, status: 'approved' })
    .whereNull('redeemed_at')
    .whereNotNull('acl_token_id')
    .orderBy('decided_at');
}

export async function markJoinRequestRedeemed(db: DbOrTrx, id: string, now: number): Promise<boolean> {
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
  const row: (Omit<PendingIdentityRow, 'email_verified'> & { email_verified: boolean | number }) | undefined = await db('pending_identity')
    .where({ interaction_uid: uid })
    .andWhere('expires_at', '>', now)
    .first();
  return row && { ...row, email_verified: Boolean(row.email_verified) };
}

export async function deletePendingIdentity(db: DbOrTrx, uid: string): Promise<void> {
  await db('pending_identity').where({ interaction_uid: uid }).delete();
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
