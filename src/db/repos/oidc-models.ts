/**
 * Storage for every oidc-provider model, one row per (kind, id). Consuming is a
 * conditional UPDATE whose row count says who won, so two requests racing with
 * one authorization code or refresh token cannot both succeed.
 */
import { jsonText, usesFastPath as fast } from '../flavor.ts';
import type { Db, DbOrTrx } from '../knex.ts';
import { readPrepared, SqliteTx, writePrepared } from '../sqlite-statements.ts';
import type { DbOrTx } from '../transaction.ts';

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

/** A row of `oidc_model` with its kind, id and payload, the rest NULL unless given. */
export function modelRow(kind: string, id: string, payload: string, over: Partial<OidcModelRow> = {}): OidcModelRow {
  return { kind, id, payload, grant_id: null, user_code: null, uid: null, account_id: null, expires_at: null, consumed_at: null, ...over };
}

const upsertSql = `insert into oidc_model (kind, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (kind, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
  user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`;

export async function upsertModel(db: DbOrTx, row: OidcModelRow): Promise<void> {
  const values = [row.kind, row.id, row.payload, row.grant_id, row.user_code, row.uid, row.account_id, row.expires_at, row.consumed_at];
  if (db instanceof SqliteTx) {
    db.run(upsertSql, ...values);
    return;
  }
  // (Handed on, not awaited here: one promise less for every token stored.)
  if (fast(db)) return writePrepared(db as Db, upsertSql, (s) => void s.run(...values));
  await db('oidc_model').insert(row).onConflict(['kind', 'id']).merge(['payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at', 'consumed_at']);
}

export async function findModel(db: DbOrTrx, kind: string, id: string): Promise<OidcModelRow | undefined> {
  if (fast(db)) return readPrepared(db as Db, 'select * from oidc_model where kind = ? and id = ?', (s) => s.get(kind, id) as OidcModelRow | undefined);
  return db('oidc_model').where({ kind, id }).first();
}

/** What the adapter's find needs of a row (every device poll, token and session read): fewer columns to hand over. */
export type ModelState = Pick<OidcModelRow, 'payload' | 'expires_at' | 'consumed_at'>;

export function findModelState(db: DbOrTrx, kind: string, id: string): Promise<ModelState | undefined> {
  if (fast(db))
    return readPrepared(
      db as Db,
      'select payload, expires_at, consumed_at from oidc_model where kind = ? and id = ?',
      (s) => s.get(kind, id) as ModelState | undefined,
    );
  return db('oidc_model')
    .where({ kind, id })
    .first('payload', 'expires_at', 'consumed_at')
    .then((row) => row as ModelState | undefined);
}

/** A Client's state with Gatehouse's hold on it (registered_client.disabled_at), in one query. */
export function findClientModel(db: DbOrTrx, id: string): Promise<(ModelState & { disabled_at: number | null }) | undefined> {
  const sql = `select m.payload, m.expires_at, m.consumed_at, r.disabled_at as disabled_at from oidc_model m left join registered_client r on r.client_id = m.id where m.kind = 'Client' and m.id = ?`;
  if (fast(db)) return readPrepared(db as Db, sql, (s) => s.get(id) as (ModelState & { disabled_at: number | null }) | undefined);
  return db.raw(sql, [id]).then((result) => (result as { rows: (ModelState & { disabled_at: number | null })[] }).rows[0]);
}

export async function findModelBy(db: DbOrTrx, kind: string, column: 'uid' | 'user_code', value: string): Promise<OidcModelRow | undefined> {
  if (fast(db))
    return readPrepared(
      db as Db,
      `select * from oidc_model where kind = ? and ${column === 'uid' ? 'uid' : 'user_code'} = ? limit 1`,
      (s) => s.get(kind, value) as OidcModelRow | undefined,
    );
  return db('oidc_model')
    .where({ kind, [column]: value })
    .first();
}

/** Marks a row consumed; true only for the one caller that did it. */
export async function consumeModel(db: DbOrTrx, kind: string, id: string, at: number): Promise<boolean> {
  if (fast(db))
    return writePrepared(
      db as Db,
      'update oidc_model set consumed_at = ? where kind = ? and id = ? and consumed_at is null',
      (s) => s.run(at, kind, id).changes === 1,
    );
  const changed = await db('oidc_model').where({ kind, id }).whereNull('consumed_at').update({ consumed_at: at });
  return changed === 1;
}

/** Returns how many rows went (0 when another caller was first). */
export async function destroyModel(db: DbOrTrx, kind: string, id: string): Promise<number> {
  if (fast(db)) return writePrepared(db as Db, 'delete from oidc_model where kind = ? and id = ?', (s) => s.run(kind, id).changes);
  return db('oidc_model').where({ kind, id }).delete();
}

/** Removes the grant and everything issued under it, of every kind. */
export async function destroyByGrantId(db: DbOrTrx, grantId: string): Promise<number> {
  if (fast(db)) return writePrepared(db as Db, 'delete from oidc_model where grant_id = ?', (s) => s.run(grantId).changes);
  return db('oidc_model').where({ grant_id: grantId }).delete();
}

/** Ends every session, grant and token of one user. */
export async function destroyByAccountId(db: DbOrTrx, accountId: string): Promise<number> {
  return db('oidc_model').where({ account_id: accountId }).delete();
}

/**
 * Kinds that name their client in the payload but need not belong to a grant;
 * access tokens, refresh tokens and authorization codes always belong to one.
 */
const clientBoundKinds = [
  'Grant',
  'ClientCredentials',
  'RegistrationAccessToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
];

/**
 * Ends everything oidc-provider holds for one client: its metadata, its grants
 * and every row issued under them (access and refresh tokens, codes), and its
 * grant-less rows (client_credentials tokens, registration access tokens,
 * pending device codes). Rows are found by kind (the primary key's prefix) and
 * the payload's `clientId`, so the hot token path keeps its indexes as they are
 * and only this rare admin operation reads payloads. Run it in the transaction
 * that deletes the client: a client registered again under the same id then
 * finds nothing of the old one.
 */
export async function destroyModelsOfClient(db: DbOrTrx, clientId: string): Promise<number> {
  const clientOf = jsonText(db, 'payload', 'clientId');
  const grants = db('oidc_model').select('id').where({ kind: 'Grant' }).andWhereRaw(`${clientOf} = ?`, [clientId]);
  let removed = await db('oidc_model').whereIn('grant_id', grants).delete();
  removed += await db('oidc_model').whereIn('kind', clientBoundKinds).andWhereRaw(`${clientOf} = ?`, [clientId]).delete();
  removed += await db('oidc_model').where({ kind: 'Client', id: clientId }).delete();
  return removed;
}

export async function listModels(db: DbOrTrx, kind: string): Promise<OidcModelRow[]> {
  return db('oidc_model').where({ kind }).orderBy('id');
}

export async function deleteExpiredModels(db: DbOrTrx, now: number, limit = 1000): Promise<number> {
  const ids = db('oidc_model').select('kind', 'id').whereNotNull('expires_at').andWhere('expires_at', '<', now).limit(limit);
  return db('oidc_model').whereIn(['kind', 'id'], ids).delete();
}
