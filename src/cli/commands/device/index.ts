/**
 * `gatehouse device list|revoke`: devices are registered clients that only get
 * tokens for themselves (client_credentials), from a registration token (agent
 * register) or a device token (agent enroll).
 */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { listDevices, revokeDevice } from '../../../admin/ops/devices.ts';
import { withGatehouse } from '../../index.ts';

export function deviceCommands(): Command {
  const device = new Command('device').description('devices (registered client_credentials clients)');

  device
    .command('list')
    .description('list registered devices with the registration or device token each used (TOKENID)')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listDevices, { gh, actor }, {}), ['id', 'name', 'manufacturerId', 'path', 'tokenId', 'state', 'created', 'lastToken']);
      }),
    );

  device
    .command('revoke')
    .description('revoke a device: its client is deleted and its tokens stop working')
    .argument('<id>', 'device (client) id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(revokeDevice, { gh, actor }, { id }));
      }),
    );
  return device;
}
