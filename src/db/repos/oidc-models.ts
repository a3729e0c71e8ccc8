/**
 * Storage for every oidc-provider model, one row per (kind, id). Consuming is a
 * conditional UPDATE whose row count says who won, so two requests racing with
 * one authorization code or refresh token cannot both succeed.
 */
import type { DbOrTrx } from '../knex.ts';

export interface OidcModelRow {
  kind: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  account_id: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

export async function upsertModel(db: DbOrTrx, row: OidcModelRow): Promise<void> {
  await db('oidc_model').insert(row).onConflict(['kind', 'id']).merge();
}

export async function findModel(db: DbOrTrx, kind: string, id: string): Promise<OidcModelRow | undefined> {
  return db('oidc_model').where({ kind, id }).first();
}

export async function findModelBy(db: DbOrTrx, kind: string, column: 'uid' | 'user_code', value: string): Promise<OidcModelRow | undefined> {
  return db('oidc_model').where({ kind, [column]: value }).first();
}

/** Marks a row consumed; true only for the one caller that did it. */
export async function consumeModel(db: DbOrTrx, kind: string, id: string, at: number): Promise<boolean> {
  const changed = await db('oidc_model').where({ kind, id }).whereNull('consumed_at').update({ consumed_at: at });
  return changed === 1;
}

export async function destroyModel(db: DbOrTrx, kind: string, id: string): Promise<void> {
  await db('oidc_model').where({ kind, id }).delete();
}

/** Removes the grant and everything issued under it, of every kind. */
export async function destroyByGrantId(db: DbOrTrx, grantId: string): Promise<number> {
  return db('oidc_model').where({ grant_id: grantId }).delete();
}

/** Ends every session, grant and token of one user. */
export async function destroyByAccountId(db: DbOrTrx, accountId: string): Promise<number> {
  return db('oidc_model').where({ account_id: accountId }).delete();
}

export async function listModels(db: DbOrTrx, kind: string): Promise<OidcModelRow[]> {
  return db('oidc_model').where({ kind }).orderBy('id');
}

export async function deleteExpiredModels(db: DbOrTrx, now: number, limit = 1000): Promise<number> {
  const ids = db('oidc_model').select('kind', 'id').whereNotNull('expires_at').andWhere('expires_at', '<', now).limit(limit);
  return db('oidc_model').whereIn(['kind', 'id'], ids).delete();
}
