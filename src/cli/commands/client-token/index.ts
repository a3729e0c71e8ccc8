/** `gatehouse client-token create|list|revoke`: access to one client, with an expiry. */
import { Command } from 'commander';
import { parseExpiry } from '../../../config/duration.ts';
import { withGatehouse } from '../../index.ts';
import { clientTokenView } from '../acl-token/index.ts';

export function clientTokenCommands(): Command {
  const ct = new Command('client-token').description('client tokens (access to one client, linked from ACL tokens)');

  ct.command('create')
    .description('create a client token; prints it once')
    .requiredOption('--client <id>', 'client id')
    .requiredOption('--expires <duration>', 'until when (30d, ISO date)')
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: { client: string; expires: string }) => {
        const now = gh.clock.now();
        const made = await gh.aclTokens.createClientToken(opts.client, parseExpiry(opts.expires, new Date(now)).getTime(), actor);
        out.record({ ...clientTokenView(made.row, now), token: made.token });
      }),
    );

  ct.command('list')
    .description('list client tokens')
    .action(
      withGatehouse(async ({ gh, out }) => {
        const now = gh.clock.now();
        out.table(
          (await gh.aclTokens.listClientTokens()).map((r) => clientTokenView(r, now)),
          ['id', 'client', 'state', 'expires', 'created'],
        );
      }),
    );

  ct.command('revoke')
    .description('revoke a client token: nobody reaches the client through it any more')
    .argument('<id>', 'client token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(clientTokenView(await gh.aclTokens.revokeClientToken(id, actor), gh.clock.now()));
      }),
    );
  return ct;
}
