/**
 * Registration tokens, Gatehouse's record of registered clients, and client
 * approval links. Uses move only through `takeRegistrationTokenUse`, a
 * conditional UPDATE whose row count says whether a use was left.
 */
import { insertUnique, usesFastPath } from '../flavor.ts';
import type { Db, DbOrTrx } from '../knex.ts';
import { readPrepared, SqliteTx } from '../sqlite-statements.ts';
import { insertRow, type DbOrTx } from '../transaction.ts';

export interface RegistrationTokenRow {
  id: string;
  token_hash: string;
  description: string | null;
  max_clients: number;
  uses: number;
  /** JSON of RegistrationTemplate, or null. */
  template: string | null;
  approval: boolean | number;
  acl_token_id: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  created_by: string;
  created_at: number;
}

export interface RegisteredClientRow {
  client_id: string;
  registration_token_id: string | null;
  via: 'rfc7591' | 'keycloak' | 'jwt';
  kind: 'device' | 'application';
  /** 'revoked': a device enrolled with a device token, kept (without its client) so its manufacturer id cannot enroll again. */
  disabled_reason: 'policy' | 'approval' | 'admin' | 'revoked' | null;
  disabled_at: number | null;
  created_at: number;
  /**
   * 'reserved' while oidc-provider has not stored the client yet (the use and
   * the maxClients place are held), 'stored' once it has. Absent on insert: 'stored'.
   */
  state?: 'reserved' | 'stored';
  /** Devices enrolled with a signed JWT: the manufacturer's id (unique) and the device token used. */
  manufacturer_id?: string | null;
  device_token_id?: string | null;
  last_token_at?: number | null;
  /** JSON array of the client's own approvers' e-mail addresses (`client set-approvers`), or null: the global approvers. */
  approvers?: string | null;
  /** Listed at `/account/browse` for people to ask for (`client set-discoverable`); SQLite reads it back as 0/1. Absent on insert: false. */
  discoverable?: boolean | number;
  /** A second factor at every sign-in to it (`client set-require-mfa`); SQLite reads it back as 0/1. Absent on insert: false. */
  require_mfa?: boolean | number;
}

export interface ClientApprovalLinkRow {
  token_hash: string;
  client_id: string;
  approver: string;
  expires_at: number;
  used_at: number | null;
}

export async function insertRegistrationToken(db: DbOrTrx, row: RegistrationTokenRow): Promise<void> {
  await insertUnique(db('registration_token').insert(row), `registration token ${row.id}`);
}

export async function findRegistrationToken(db: DbOrTx, id: string): Promise<RegistrationTokenRow | undefined> {
  if (db instanceof SqliteTx) return db.get('select * from registration_token where id = ?', id);
  return db('registration_token').where({ id }).first();
}

/** Every registration asks this first (outside any transaction): a prepared read on SQLite. */
export async function findRegistrationTokenByHash(db: DbOrTrx, tokenHash: string): Promise<RegistrationTokenRow | undefined> {
  if (usesFastPath(db))
    return readPrepared(db as Db, 'select * from registration_token where token_hash = ? limit 1', (s) => s.get(tokenHash) as RegistrationTokenRow | undefined);
  return db('registration_token').where({ token_hash: tokenHash }).first();
}

export async function listRegistrationTokens(db: DbOrTrx): Promise<RegistrationTokenRow[]> {
  return db('registration_token').orderBy('created_at').orderBy('id');
}

/** Takes one use if one is left and the token is alive; true only for the caller that got it. */
export async function takeRegistrationTokenUse(db: DbOrTx, id: string, now: number): Promise<boolean> {
  if (db instanceof SqliteTx)
    return (
      db.run(
        'update registration_token set uses = uses + 1 where id = ? and revoked_at is null and (expires_at is null or expires_at > ?) and uses < max_clients',
        id,
        now,
      ) === 1
    );
  const changed = await db('registration_token')
    .where({ id })
    .whereNull('revoked_at')
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
    .andWhereRaw('uses < max_clients')
    .increment('uses', 1);
  return changed === 1;
}

/** Gives a use back when the registration it was taken for did not happen. */
export async function returnRegistrationTokenUse(db: DbOrTrx, id: string): Promise<void> {
  await db('registration_token').where({ id }).andWhere('uses', '>', 0).decrement('uses', 1);
}

export async function revokeRegistrationToken(db: DbOrTrx, id: string, now: number): Promise<boolean> {
  return (await db('registration_token').where({ id }).whereNull('revoked_at').update({ revoked_at: now })) === 1;
}

export async function insertRegisteredClient(db: DbOrTx, row: RegisteredClientRow): Promise<void> {
  await insertRow(
    db,
    'registered_client',
    row,
    row.manufacturer_id ? `client ${row.client_id} or a device with manufacturer id ${row.manufacturer_id}` : `client ${row.client_id}`,
  );
}

export async function findRegisteredClient(db: DbOrTx, clientId: string): Promise<RegisteredClientRow | undefined> {
  if (db instanceof SqliteTx) return db.get('select * from registered_client where client_id = ?', clientId);
  return db('registered_client').where({ client_id: clientId }).first();
}

/** Registered clients whose metadata still exists (an interrupted registration leaves no client). */
export async function listRegisteredClients(db: DbOrTrx, kind?: RegisteredClientRow['kind']): Promise<RegisteredClientRow[]> {
  const query = db('registered_client as r')
    .join('oidc_model as m', (j) => j.on('m.id', 'r.client_id').andOnVal('m.kind', 'Client'))
    .select('r.*')
    .orderBy('r.created_at')
    .orderBy('r.client_id');
  return kind ? query.where('r.kind', kind) : query;
}

/** Registered clients not revoked (what maxClients counts): one row kept by triggers (migrations/20261201220000_count_registered_clients.ts). */
export async function countRegisteredClients(db: DbOrTx): Promise<number> {
  if (db instanceof SqliteTx) return Number(db.get<{ n: number }>('select n from registered_client_count where id = 1')?.n ?? 0);
  const row = (await db('registered_client_count').where({ id: 1 }).first('n')) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/** The client of a reservation was stored; true only for the caller that moved it (false: no longer reserved). */
export async function markReservationStored(db: DbOrTx, clientId: string): Promise<boolean> {
  if (db instanceof SqliteTx) return db.run("update registered_client set state = 'stored' where client_id = ? and state = 'reserved'", clientId) === 1;
  return (await db('registered_client').where({ client_id: clientId, state: 'reserved' }).update({ state: 'stored' })) === 1;
}

/** Drops a reservation whose client was never stored; true only for the one caller that dropped it, who gives its use back. */
export async function deleteReservation(db: DbOrTrx, clientId: string): Promise<boolean> {
  return (await db('registered_client').where({ client_id: clientId, state: 'reserved' }).delete()) === 1;
}

/** Reservations made before `before` that are still reserved (a crash, or a request far slower than any should be). */
export async function listStaleReservations(db: DbOrTrx, before: number, limit = 100): Promise<RegisteredClientRow[]> {
  return db('registered_client').where({ state: 'reserved' }).andWhere('created_at', '<', before).orderBy('created_at').limit(limit);
}

export async function setClientDisabled(db: DbOrTrx, clientId: string, reason: RegisteredClientRow['disabled_reason'], now: number): Promise<boolean> {
  const changed = await db('registered_client')
    .where({ client_id: clientId })
    .update(reason ? { disabled_reason: reason, disabled_at: now } : { disabled_reason: null, disabled_at: null });
  return changed === 1;
}

/** Sets a registered client's own approvers (null or an empty list: none, the global approvers decide); false when there is no record. */
export async function setRegisteredClientApprovers(db: DbOrTrx, clientId: string, approvers: string[] | null): Promise<boolean> {
  const value = approvers && approvers.length > 0 ? JSON.stringify(approvers) : null;
  return (await db('registered_client').where({ client_id: clientId }).update({ approvers: value })) === 1;
}

/** Sets one of a registered client's yes/no columns (`discoverable`, `require_mfa`); false when there is no record. */
export async function setRegisteredClientFlag(db: DbOrTrx, clientId: string, column: 'discoverable' | 'require_mfa', value: boolean): Promise<boolean> {
  return (
    (await db('registered_client')
      .where({ client_id: clientId })
      .update({ [column]: value })) === 1
  );
}

/** Whether a registered client requires a second factor: one read by its primary key, only that column (false without a record). */
export async function registeredClientRequiresMfa(db: DbOrTrx, clientId: string): Promise<boolean> {
  const row = (await db('registered_client').where({ client_id: clientId }).first('require_mfa')) as Pick<RegisteredClientRow, 'require_mfa'> | undefined;
  return Boolean(row?.require_mfa);
}

/** The approvers stored on a registered client's record (an unreadable or empty value is none). */
export function approversOfRecord(record: Pick<RegisteredClientRow, 'approvers'> | undefined): string[] {
  if (!record?.approvers) return [];
  try {
    const parsed: unknown = JSON.parse(record.approvers);
    return Array.isArray(parsed) ? parsed.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * How many distinct users hold live access to each of these clients now: a
 * non-revoked ACL token linking a non-revoked, unexpired client token for the
 * client (the access query of acl-tokens.ts, counted). Clients nobody can
 * reach are absent from the map.
 */
export async function countUsersWithAccess(db: DbOrTrx, clientIds: string[], now: number): Promise<Map<string, number>> {
  if (clientIds.length === 0) return new Map();
  const rows: { client_id: string; n: number | string }[] = await db('user_acl_token as u')
    .join('acl_token as a', 'a.id', 'u.acl_token_id')
    .join('acl_token_client_token as l', 'l.acl_token_id', 'a.id')
    .join('client_token as c', 'c.id', 'l.client_token_id')
    .whereIn('c.client_id', clientIds)
    .whereNull('a.revoked_at')
    .whereNull('c.revoked_at')
    .andWhere((q) => q.whereNull('c.expires_at').orWhere('c.expires_at', '>', now))
    .groupBy('c.client_id')
    .select('c.client_id')
    .countDistinct({ n: 'u.user_id' });
  return new Map(rows.map((r) => [r.client_id, Number(r.n)]));
}

export async function deleteRegisteredClient(db: DbOrTrx, clientId: string): Promise<void> {
  await db('registered_client').where({ client_id: clientId }).delete();
}

export async function insertClientApprovalLink(db: DbOrTrx, row: ClientApprovalLinkRow): Promise<void> {
  await insertUnique(db('client_approval_link').insert(row), 'approval link');
}

export async function findClientApprovalLink(db: DbOrTrx, tokenHash: string): Promise<ClientApprovalLinkRow | undefined> {
  return db('client_approval_link').where({ token_hash: tokenHash }).first();
}

/** Uses a link once; true only for the caller that used it. */
export async function useClientApprovalLink(db: DbOrTrx, tokenHash: string, now: number): Promise<boolean> {
  const changed = await db('client_approval_link')
    .where({ token_hash: tokenHash })
    .whereNull('used_at')
    .andWhere('expires_at', '>', now)
    .update({ used_at: now });
  return changed === 1;
}

/** After one approver acted, the other links for the same client stop working. */
export async function retireClientApprovalLinks(db: DbOrTrx, clientId: string, now: number): Promise<void> {
  await db('client_approval_link').where({ client_id: clientId }).whereNull('used_at').update({ used_at: now });
}

/**
 * When a client last got a token: written only when the stored time is a
 * minute old or more (or none), so that every instance together writes it at
 * most once a minute per client (registration/registrar.ts `noteTokenIssued`).
 * True when it wrote.
 */
export async function touchClientTokenTime(db: DbOrTrx, clientId: string, now: number): Promise<boolean> {
  const changed = await db('registered_client')
    .where({ client_id: clientId })
    .andWhere((q) => q.whereNull('last_token_at').orWhere('last_token_at', '<=', now - 60_000))
    .update({ last_token_at: now });
  return changed > 0;
}

export async function findRegisteredClientByManufacturerId(db: DbOrTrx, manufacturerId: string): Promise<RegisteredClientRow | undefined> {
  if (usesFastPath(db))
    return readPrepared(
      db as Db,
      'select * from registered_client where manufacturer_id = ? limit 1',
      (s) => s.get(manufacturerId) as RegisteredClientRow | undefined,
    );
  return db('registered_client').where({ manufacturer_id: manufacturerId }).first();
}
