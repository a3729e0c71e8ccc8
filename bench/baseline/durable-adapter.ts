/**
 * The durable baseline's adapter: every oidc-provider model in one SQLite
 * table, the shape of Gatehouse's `oidc_model` (migrations/: one row per
 * (kind, id), the payload as JSON text, the same columns and the same partial
 * secondary indexes on grant_id, (kind, user_code), (kind, uid), account_id and
 * expires_at), on better-sqlite3 directly: prepared statements, no knex, no
 * transactions, WAL with `synchronous = NORMAL` (and the same
 * `wal_autocheckpoint` as Gatehouse's src/db/knex.ts, so both pay for
 * checkpoints alike).
 *
 * It is what a plain durable oidc-provider costs, without anything Gatehouse
 * adds (no conditional consume, no client hold, no outage guard): upsert is
 * insert on conflict do update; find by id, by uid, by user code; consume sets
 * consumed_at; destroy; revokeByGrantId deletes every row of the grant (the
 * Grant row itself included, its grant_id is its id). An expired row is not
 * found. Times are epoch milliseconds, as in Gatehouse.
 */
import Database from 'better-sqlite3';
import type { Adapter, AdapterPayload } from 'oidc-provider';

const schema = [
  `create table if not exists oidc_model (kind varchar(64) not null, id varchar(255) not null, payload text not null,
    grant_id varchar(255), user_code varchar(64), uid varchar(255), account_id varchar(36), expires_at bigint, consumed_at bigint,
    primary key (kind, id))`,
  'create index if not exists oidc_model_grant_id_index on oidc_model (grant_id) where grant_id is not null',
  'create index if not exists oidc_model_kind_user_code_index on oidc_model (kind, user_code) where user_code is not null',
  'create index if not exists oidc_model_kind_uid_index on oidc_model (kind, uid) where uid is not null',
  'create index if not exists oidc_model_account_id_index on oidc_model (account_id) where account_id is not null',
  'create index if not exists oidc_model_expires_at_index on oidc_model (expires_at) where expires_at is not null',
];

interface Row {
  payload: string;
  expires_at: number | null;
  consumed_at: number | null;
}

export interface DurableStore {
  /** oidc-provider's `adapter` option: one adapter per model name, all on the one database. */
  adapter: (model: string) => Adapter;
  close(): void;
}

export function durableStore(filename: string): DurableStore {
  const db = new Database(filename);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 10000');
  for (const sql of schema) db.exec(sql);

  const upsert = db.prepare(
    `insert into oidc_model (kind, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, null) on conflict (kind, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
    user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at, consumed_at = null`,
  );
  const byId = db.prepare<[string, string], Row>('select payload, expires_at, consumed_at from oidc_model where kind = ? and id = ?');
  const byUid = db.prepare<[string, string], Row>('select payload, expires_at, consumed_at from oidc_model where kind = ? and uid = ? limit 1');
  const byUserCode = db.prepare<[string, string], Row>('select payload, expires_at, consumed_at from oidc_model where kind = ? and user_code = ? limit 1');
  const consume = db.prepare('update oidc_model set consumed_at = ? where kind = ? and id = ?');
  const destroy = db.prepare('delete from oidc_model where kind = ? and id = ?');
  const revoke = db.prepare('delete from oidc_model where grant_id = ?');

  const load = (row: Row | undefined): AdapterPayload | undefined => {
    if (!row || (row.expires_at !== null && row.expires_at <= Date.now())) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
  };

  const adapter = (kind: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      const grantId = kind === 'Grant' ? id : payload.grantId;
      upsert.run(
        kind,
        id,
        JSON.stringify(payload),
        grantId ?? null,
        payload.userCode ?? null,
        payload.uid ?? null,
        payload.accountId ?? null,
        expiresIn ? Date.now() + expiresIn * 1000 : null,
      );
    },
    async find(id) {
      return load(byId.get(kind, id));
    },
    async findByUid(uid) {
      return load(byUid.get(kind, uid));
    },
    async findByUserCode(userCode) {
      return load(byUserCode.get(kind, userCode));
    },
    async consume(id) {
      consume.run(Date.now(), kind, id);
    },
    async destroy(id) {
      destroy.run(kind, id);
    },
    async revokeByGrantId(grantId) {
      revoke.run(grantId);
    },
  });

  return { adapter, close: () => db.close() };
}
