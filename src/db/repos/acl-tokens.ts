/**
 * ACL tokens, client tokens and their links (to each other and to users).
 * Uses move only through `incrementAclTokenUses`, a conditional UPDATE whose row
 * count says whether a use was left.
 */
import { insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';
import { SqliteTx } from '../sqlite-statements.ts';
import { insertRow, type DbOrTx } from '../transaction.ts';

export interface AclTokenRow {
  id: string;
  token_hash: string;
  description: string | null;
  max_users: number;
  uses: number;
  kind: 'invitation' | 'personal' | 'global' | 'bootstrap';
  expires_at: number | null;
  revoked_at: number | null;
  created_by: string;
  created_at: number;
  /** The first login through this token enrolls a second factor (identity/mfa/); SQLite reads it back as 0/1. */
  require_mfa?: boolean | number;
}

export interface ClientTokenRow {
  id: string;
  token_hash: string;
  client_id: string;
  expires_at: number | null;
  revoked_at: number | null;
  created_by: string;
  created_at: number;
}

/** `require_mfa` only when set, as `true` (SQLite reads booleans back as 0/1): rows of other tokens stay as they were. */
export function plainAclToken(row: AclTokenRow): AclTokenRow;
export function plainAclToken(row: AclTokenRow | undefined): AclTokenRow | undefined;
export function plainAclToken(row: AclTokenRow | undefined): AclTokenRow | undefined {
  if (!row || !('require_mfa' in row)) return row;
  const { require_mfa: requireMfa, ...rest } = row;
  return requireMfa ? { ...rest, require_mfa: true } : rest;
}

export async function insertAclToken(db: DbOrTrx, row: AclTokenRow): Promise<void> {
  await insertUnique(db('acl_token').insert(row), `ACL token ${row.id}`);
}

export async function findAclToken(db: DbOrTx, id: string): Promise<AclTokenRow | undefined> {
  if (db instanceof SqliteTx) return plainAclToken(db.get<AclTokenRow>('select * from acl_token where id = ? limit 1', id));
  return plainAclToken(await db('acl_token').where({ id }).first());
}

export async function findAclTokenByHash(db: DbOrTx, tokenHash: string): Promise<AclTokenRow | undefined> {
  if (db instanceof SqliteTx) return plainAclToken(db.get<AclTokenRow>('select * from acl_token where token_hash = ? limit 1', tokenHash));
  return plainAclToken(await db('acl_token').where({ token_hash: tokenHash }).first());
}

export async function findAclTokensByKind(db: DbOrTx, kind: AclTokenRow['kind']): Promise<AclTokenRow[]> {
  if (db instanceof SqliteTx) return db.all<AclTokenRow>('select * from acl_token where kind = ? order by created_at', kind).map((r) => plainAclToken(r));
  return (await db('acl_token').where({ kind }).orderBy('created_at')).map((r) => plainAclToken(r));
}

export async function listAclTokens(db: DbOrTrx): Promise<AclTokenRow[]> {
  return (await db('acl_token').orderBy('created_at').orderBy('id')).map((r) => plainAclToken(r));
}

/** Takes one use if one is left and the token is alive; true only for the caller that got it. */
export async function incrementAclTokenUses(db: DbOrTx, id: string, now: number): Promise<boolean> {
  if (db instanceof SqliteTx)
    return (
      db.run(
        'update acl_token set uses = uses + 1 where id = ? and revoked_at is null and (expires_at is null or expires_at > ?) and (max_users = 0 or uses < max_users)',
        id,
        now,
      ) === 1
    );
  const changed = await db('acl_token')
    .where({ id })
    .whereNull('revoked_at')
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
    .andWhere((q) => q.where('max_users', 0).orWhereRaw('uses < max_users'))
    .increment('uses', 1);
  return changed === 1;
}

export async function revokeAclToken(db: DbOrTrx, id: string, now: number): Promise<boolean> {
  return (await db('acl_token').where({ id }).whereNull('revoked_at').update({ revoked_at: now })) === 1;
}

export async function insertClientToken(db: DbOrTx, row: ClientTokenRow): Promise<void> {
  await insertRow(db, 'client_token', row, `client token ${row.id}`);
}

export async function findClientToken(db: DbOrTrx, id: string): Promise<ClientTokenRow | undefined> {
  return db('client_token').where({ id }).first();
}

export async function listClientTokens(db: DbOrTrx): Promise<ClientTokenRow[]> {
  return db('client_token').orderBy('created_at').orderBy('id');
}

export async function revokeClientToken(db: DbOrTrx, id: string, now: number): Promise<boolean> {
  return (await db('client_token').where({ id }).whereNull('revoked_at').update({ revoked_at: now })) === 1;
}

export async function linkAclTokenToClientToken(db: DbOrTx, aclTokenId: string, clientTokenId: string): Promise<void> {
  if (db instanceof SqliteTx) {
    db.insert('acl_token_client_token', { acl_token_id: aclTokenId, client_token_id: clientTokenId }, 'on conflict (acl_token_id, client_token_id) do nothing');
    return;
  }
  await db('acl_token_client_token')
    .insert({ acl_token_id: aclTokenId, client_token_id: clientTokenId })
    .onConflict(['acl_token_id', 'client_token_id'])
    .ignore();
}

export async function clientTokensOfAclToken(db: DbOrTx, aclTokenId: string): Promise<ClientTokenRow[]> {
  if (db instanceof SqliteTx)
    return db.all(
      'select client_token.* from client_token inner join acl_token_client_token on client_token.id = acl_token_client_token.client_token_id where acl_token_client_token.acl_token_id = ? order by client_token.client_id',
      aclTokenId,
    );
  return db('client_token')
    .join('acl_token_client_token', 'client_token.id', 'acl_token_client_token.client_token_id')
    .where('acl_token_client_token.acl_token_id', aclTokenId)
    .select('client_token.*')
    .orderBy('client_token.client_id');
}

/** Links a user to a token; nothing happens when they are linked already. */
export async function linkUserToAclToken(db: DbOrTx, userId: string, aclTokenId: string, now: number): Promise<void> {
  await linkUserToAclTokenOnce(db, userId, aclTokenId, now);
}

/** Links a user to a token unless already linked; true only for the caller whose row went in (the race winner). */
export async function linkUserToAclTokenOnce(db: DbOrTx, userId: string, aclTokenId: string, now: number): Promise<boolean> {
  if (db instanceof SqliteTx)
    return db.insert('user_acl_token', { user_id: userId, acl_token_id: aclTokenId, created_at: now }, 'on conflict (user_id, acl_token_id) do nothing') === 1;
  const rows: unknown[] = await db('user_acl_token')
    .insert({ user_id: userId, acl_token_id: aclTokenId, created_at: now })
    .onConflict(['user_id', 'acl_token_id'])
    .ignore()
    .returning('user_id');
  return rows.length === 1;
}

export async function aclTokensOfUser(db: DbOrTrx, userId: string): Promise<AclTokenRow[]> {
  const rows: AclTokenRow[] = await db('acl_token')
    .join('user_acl_token', 'acl_token.id', 'user_acl_token.acl_token_id')
    .where('user_acl_token.user_id', userId)
    .select('acl_token.*')
    .orderBy('acl_token.created_at');
  return rows.map((r) => plainAclToken(r));
}

export async function usersOfAclToken(db: DbOrTrx, aclTokenId: string): Promise<string[]> {
  const rows: { user_id: string }[] = await db('user_acl_token').where({ acl_token_id: aclTokenId }).select('user_id');
  return rows.map((r) => r.user_id);
}

/**
 * The one access query: does this user hold a non-revoked ACL token that links a
 * live client token for this client (SPEC 3, rule 7)? The ACL token's own
 * expiry only limits when it can be redeemed; how long access lasts is the
 * client token's expiry. Returns the latest such expiry (null = never) or
 * undefined when there is no access.
 */
export async function userAccessToClient(db: DbOrTx, userId: string, clientId: string, now: number): Promise<{ expiresAt: number | null } | undefined> {
  const rows: { client_expires: number | null }[] =
    db instanceof SqliteTx
      ? db.all(
          'select c.expires_at as client_expires from user_acl_token as u inner join acl_token as a on a.id = u.acl_token_id' +
            ' inner join acl_token_client_token as l on l.acl_token_id = a.id inner join client_token as c on c.id = l.client_token_id' +
            ' where u.user_id = ? and c.client_id = ? and a.revoked_at is null and c.revoked_at is null and (c.expires_at is null or c.expires_at > ?)',
          userId,
          clientId,
          now,
        )
      : await db('user_acl_token as u')
          .join('acl_token as a', 'a.id', 'u.acl_token_id')
          .join('acl_token_client_token as l', 'l.acl_token_id', 'a.id')
          .join('client_token as c', 'c.id', 'l.client_token_id')
          .where('u.user_id', userId)
          .andWhere('c.client_id', clientId)
          .whereNull('a.revoked_at')
          .whereNull('c.revoked_at')
          .andWhere((q) => q.whereNull('c.expires_at').orWhere('c.expires_at', '>', now))
          .select('c.expires_at as client_expires');
  if (rows.length === 0) return undefined;
  const ends = rows.map((r) => r.client_expires);
  return { expiresAt: ends.includes(null) ? null : Math.max(...(ends as number[])) };
}

/** Every client a user can reach, with the access expiry (for `user show`). */
export async function userAccessList(
  db: DbOrTrx,
  userId: string,
  now: number,
): Promise<{ client_id: string; acl_token_id: string; expires_at: number | null }[]> {
  const rows: { client_id: string; acl_token_id: string; expires_at: number | null }[] = await db('user_acl_token as u')
    .join('acl_token as a', 'a.id', 'u.acl_token_id')
    .join('acl_token_client_token as l', 'l.acl_token_id', 'a.id')
    .join('client_token as c', 'c.id', 'l.client_token_id')
    .where('u.user_id', userId)
    .whereNull('a.revoked_at')
    .whereNull('c.revoked_at')
    .andWhere((q) => q.whereNull('c.expires_at').orWhere('c.expires_at', '>', now))
    .select('c.client_id', 'a.id as acl_token_id', 'c.expires_at as expires_at')
    .orderBy('c.client_id');
  return rows;
}

/** Removes every client token of one client (its links go with them): used when a registration is undone or a client deleted. */
export async function deleteClientTokensOfClient(db: DbOrTrx, clientId: string): Promise<void> {
  await db('client_token').where({ client_id: clientId }).delete();
}

/** Removes the link between a user and an ACL token (an admin ending that user's access to a client); true when there was one. */
export async function unlinkUserFromAclToken(db: DbOrTrx, userId: string, aclTokenId: string): Promise<boolean> {
  return (await db('user_acl_token').where({ user_id: userId, acl_token_id: aclTokenId }).delete()) > 0;
}
