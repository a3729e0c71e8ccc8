/**
 * Device tokens: one row per signed registration JWT (keyed by its jti).
 * Uses move only through `takeDeviceTokenUse`, a conditional UPDATE.
 */
import { insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

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
  return db('device_token').where({ id }).first();
}

export async function listDeviceTokens(db: DbOrTrx): Promise<DeviceTokenRow[]> {
  return db('device_token').orderBy('created_at').orderBy('id');
}

/** Takes one use if one is left and the token is alive; true only for the caller that got it. */
export async function takeDeviceTokenUse(db: DbOrTrx, id: string, now: number): Promise<boolean> {
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
