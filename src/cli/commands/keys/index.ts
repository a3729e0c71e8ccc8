/** `gatehouse keys list|rotate|revoke`: the signing keys in the database (running servers follow within 30 s). */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { listKeys, revokeKey, rotateKeys } from '../../../admin/ops/keys.ts';
import { keyRefreshIntervalMs } from '../../../oidc/key-refresh.ts';
import { withGatehouse } from '../../index.ts';

const live = `Running servers publish this change and sign accordingly within ${keyRefreshIntervalMs / 1000} seconds; no restart needed.`;

export function keysCommands(): Command {
  const keys = new Command('keys').description(`signing keys: list, rotate, revoke (running servers follow within ${keyRefreshIntervalMs / 1000} s)`);
  keys
    .command('list')
    .description('list published signing keys')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listKeys, { gh, actor }, {}), ['kid', 'alg', 'state', 'createdAt', 'retiredAt']);
      }),
    );
  keys
    .command('rotate')
    .description('add new signing keys; old ones stay published until their tokens expire')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(rotateKeys, { gh, actor }, {}), ['kid', 'alg', 'state', 'createdAt']);
        out.say(live);
      }),
    );
  keys
    .command('revoke')
    .description("remove a signing key from the JWKS now (tokens it signed stop verifying); an algorithm's last active key needs a rotate first")
    .argument('<kid>', 'the key id (see keys list)')
    .action(
      withGatehouse(async ({ gh, out, actor }, kid: string) => {
        out.record(await invoke(revokeKey, { gh, actor }, { kid }), live);
      }),
    );
  return keys;
}
