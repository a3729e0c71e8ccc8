/**
 * Device tokens: one row per signed registration JWT (keyed by its jti).
 * Uses move only through `takeDeviceTokenUse`, a conditional UPDATE.
 */
import { insertUnique, usesFastPath } from '../flavor.ts';
import type { Db, DbOrTrx } from '../knex.ts';
import { readPrepared, SqliteTx } from '../sqlite-statements.ts';
import type { DbOrTx } from '../transaction.ts';

export interface DeviceTokenRow {
  id: string;
  description: string | null;
  max_devices: number;
  uses: number;
  client_template: string | null;
  expires_at: number;
  revoked_at: number | null;
  created_by: string;
  created_at: number;
}

export async function insertDeviceToken(db: DbOrTrx, row: DeviceTokenRow): Promise<void> {
  await insertUnique(db('device_token').insert(row), `device token ${row.id}`);
}

export async function findDeviceToken(db: DbOrTrx, id: string): Promise<DeviceTokenRow | undefined> {
  if (usesFastPath(db)) return readPrepared(db as Db, 'select * from device_token where id = ?', (s) => s.get(id) as DeviceTokenRow | undefined);
  return db('device_token').where({ id }).first();
}

export async function listDeviceTokens(db: DbOrTrx): Promise<DeviceTokenRow[]> {
  return db('device_token').orderBy('created_at').orderBy('id');
}

/** Takes one use if one is left and the token is alive; true only for the caller that got it. */
export async function takeDeviceTokenUse(db: DbOrTx, id: string, now: number): Promise<boolean> {
  if (db instanceof SqliteTx)
    return (
      db.run(
        'update device_token set uses = uses + 1 where id = ? and revoked_at is null and expires_at > ? and (max_devices = 0 or uses < max_devices)',
        id,
        now,
      ) === 1
    );
  const changed = await db('device_token')
    .where({ id })
    .whereNull('revoked_at')
    .andWhere('expires_at', '>', now)
    .andWhere((q) => q.where('max_devices', 0).orWhereRaw('uses < max_devices'))
    .increment('uses', 1);
  return changed === 1;
}

export async function revokeDeviceToken(db: DbOrTrx, id: string, now: number): Promise<boolean> {
  return (await db('device_token').where({ id }).whereNull('revoked_at').update({ revoked_at: now })) === 1;
}
