/** `gatehouse client-token create|list|revoke`: access to one client, with an expiry. */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { createClientToken, listClientTokens, revokeClientToken } from '../../../admin/ops/client-tokens.ts';
import { withGatehouse } from '../../index.ts';

export function clientTokenCommands(): Command {
  const ct = new Command('client-token').description('client tokens (access to one client, linked from ACL tokens)');

  ct.command('create')
    .description('create a client token; prints it once')
    .requiredOption('--client <id>', 'client id')
    .requiredOption('--expires <duration>', 'until when (30d, ISO date)')
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: { client: string; expires: string }) => {
        out.record(await invoke(createClientToken, { gh, actor }, { client: opts.client, expires: opts.expires }));
      }),
    );

  ct.command('list')
    .description('list client tokens')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listClientTokens, { gh, actor }, {}), ['id', 'client', 'state', 'expires', 'created']);
      }),
    );

  ct.command('revoke')
    .description('revoke a client token: nobody reaches the client through it any more')
    .argument('<id>', 'client token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(revokeClientToken, { gh, actor }, { id }));
      }),
    );
  return ct;
}
