/**
 * Devices: registered clients that only get tokens for themselves
 * (client_credentials), from a registration token (`agent register`) or a
 * device token (`agent enroll`). List them; revoke one (its client is deleted
 * and its tokens stop working).
 */
import { z } from 'zod';
import type { RegisteredClientRow } from '../../db/repos/registration.ts';
import { GatehouseError } from '../../errors.ts';
import { operation } from '../operation.ts';
import { idParam, instant, iso } from './shapes.ts';

export const device = z.object({
  id: z.string().describe('the client id'),
  clientId: z.string(),
  name: z.string().nullable(),
  manufacturerId: z.string().nullable().describe('the id a device enrolled with a device token gave'),
  path: z.enum(['device-token', 'registration-token']).describe('how it came: `agent enroll` (device token) or `agent register` (registration token)'),
  tokenId: z.string().nullable().describe('the one token it came with, whichever path'),
  registrationTokenId: z.string().nullable(),
  deviceTokenId: z.string().nullable(),
  via: z.string(),
  state: z.string().describe('`enabled`, `disabled (<reason>)` or, once revoked, `revoked`'),
  created: instant,
  lastToken: instant.describe('when it last got a token'),
});

export function deviceView(row: RegisteredClientRow, name: string | null): z.input<typeof device> {
  return {
    id: row.client_id,
    clientId: row.client_id,
    name,
    manufacturerId: row.manufacturer_id ?? null,
    path: row.via === 'jwt' ? 'device-token' : 'registration-token',
    // The one token it came with, whichever path: the registration token (agent register) or the device token (agent enroll).
    tokenId: (row.via === 'jwt' ? row.device_token_id : row.registration_token_id) ?? null,
    registrationTokenId: row.registration_token_id,
    deviceTokenId: row.device_token_id ?? null,
    via: row.via,
    state: row.disabled_reason ? `disabled (${row.disabled_reason})` : 'enabled',
    created: iso(row.created_at),
    lastToken: iso(row.last_token_at),
  };
}

export const listDevices = operation({
  name: 'devices.list',
  method: 'GET',
  path: '/devices',
  tag: 'devices',
  summary: 'List registered devices with their manufacturer id, the token each came with, state and last token time',
  input: z.object({}),
  output: z.array(device),
  paginated: true,
  async run({ gh }) {
    const rows = await gh.registrar.listRegistered('device');
    const names = new Map((await gh.clients.list()).map((c) => [c.clientId, c.name]));
    return rows.map((r) => deviceView(r, names.get(r.client_id) ?? null));
  },
});

export const revokeDevice = operation({
  name: 'devices.revoke',
  method: 'POST',
  path: '/devices/:id/revoke',
  tag: 'devices',
  summary: "Revoke a device: its client is deleted and its tokens stop working (an enrolled device's manufacturer id cannot enroll again)",
  input: z.object({ id: idParam }),
  output: device,
  async run({ gh, actor }, { id }) {
    const record = await gh.registrar.findRecord(id);
    if (!record || record.kind !== 'device') throw new GatehouseError('not_found', `no device with id ${id} (see gatehouse device list)`);
    const name = (await gh.clients.find(id))?.name ?? null;
    return { ...deviceView(await gh.registrar.delete(id, actor), name), state: 'revoked' };
  },
});

export const deviceOps = [listDevices, revokeDevice];
