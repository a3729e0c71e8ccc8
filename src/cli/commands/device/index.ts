/**
 * `gatehouse device list|revoke`: devices are registered clients that only get
 * tokens for themselves (client_credentials), from a registration token (agent
 * register) or a device token (agent enroll).
 */
import { Command } from 'commander';
import type { RegisteredClientRow } from '../../../db/repos/registration.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';
import { iso } from '../../output.ts';

export function deviceView(row: RegisteredClientRow, name: string | null): Record<string, unknown> {
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

export function deviceCommands(): Command {
  const device = new Command('device').description('devices (registered client_credentials clients)');

  device
    .command('list')
    .description('list registered devices with the registration or device token each used (TOKENID)')
    .action(
      withGatehouse(async ({ gh, out }) => {
        const rows = await gh.registrar.listRegistered('device');
        const names = new Map((await gh.clients.list()).map((c) => [c.clientId, c.name]));
        out.table(
          rows.map((r) => deviceView(r, names.get(r.client_id) ?? null)),
          ['id', 'name', 'manufacturerId', 'path', 'tokenId', 'state', 'created', 'lastToken'],
        );
      }),
    );

  device
    .command('revoke')
    .description('revoke a device: its client is deleted and its tokens stop working')
    .argument('<id>', 'device (client) id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        const record = await gh.registrar.findRecord(id);
        if (!record || record.kind !== 'device') throw new GatehouseError('not_found', `no device with id ${id} (see gatehouse device list)`);
        const name = (await gh.clients.find(id))?.name ?? null;
        out.record({ ...deviceView(await gh.registrar.delete(id, actor), name), state: 'revoked' });
      }),
    );
  return device;
}
