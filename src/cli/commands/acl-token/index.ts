/** `gatehouse acl-token create|list|show|revoke`: invitations. The secret is printed once, at creation. */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { createAclToken, listAclTokens, revokeAclToken, showAclToken } from '../../../admin/ops/acl-tokens.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new GatehouseError('input.invalid', `--max-users must be a whole number (0 = unlimited), not "${value}"`);
  return Number(value);
}

export function aclTokenCommands(): Command {
  const acl = new Command('acl-token').description('invitations (ACL tokens)');

  acl
    .command('create')
    .description('create an invitation; prints the token and link once')
    .requiredOption('--max-users <n>', '1 = personal, N = at most N people, 0 = unlimited')
    .requiredOption('--client <ids...>', 'client ids the invitation opens')
    .option('--client-expires <duration>', 'how long the access to those clients lasts (30d, ISO date)')
    .option('--expires <duration>', 'until when the invitation can be used (30d, ISO date)')
    .option('--description <text>', 'what it is for')
    .option('--require-mfa', 'whoever signs in through it must enroll a second factor (TOTP, a passkey) at that sign-in')
    .action(
      withGatehouse(
        async (
          { gh, out, actor },
          opts: { maxUsers: string; client: string[]; clientExpires?: string; expires?: string; description?: string; requireMfa?: boolean },
        ) => {
          const made = await invoke(
            createAclToken,
            { gh, actor },
            {
              maxUsers: wholeNumber(opts.maxUsers),
              clients: opts.client,
              clientExpires: opts.clientExpires,
              expires: opts.expires,
              description: opts.description,
              ...(opts.requireMfa ? { requireMfa: true } : {}),
            },
          );
          out.record(made, 'The token is shown only now: copy it or the link.');
        },
      ),
    );

  acl
    .command('list')
    .description('list invitations with their uses')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listAclTokens, { gh, actor }, {}), ['id', 'kind', 'maxUsers', 'uses', 'state', 'expires', 'description']);
      }),
    );

  acl
    .command('show')
    .description('one invitation, its clients and users')
    .argument('<id>', 'ACL token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showAclToken, { gh, actor }, { id }));
      }),
    );

  acl
    .command('revoke')
    .description('revoke an invitation: its users lose the access it gave at their next authorization or refresh')
    .argument('<id>', 'ACL token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(revokeAclToken, { gh, actor }, { id }));
      }),
    );
  return acl;
}
