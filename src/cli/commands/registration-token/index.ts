/** `gatehouse registration-token create|list|show|revoke`: counted initial access tokens for dynamic registration. */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { createRegistrationToken, listRegistrationTokens, revokeRegistrationToken, showRegistrationToken } from '../../../admin/ops/registration-tokens.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

function count(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new GatehouseError('input.invalid', `--count must be a positive whole number, not "${value}"`);
  return Number(value);
}

interface CreateOptions {
  count: string;
  expires: string;
  description?: string;
  grantTypes?: string[];
  redirectHost?: string[];
  scope?: string;
  approval?: boolean;
  aclTokenId?: string;
}

export function registrationTokenCommands(): Command {
  const rt = new Command('registration-token').description('registration tokens (initial access tokens for dynamic client registration)');

  rt.command('create')
    .description('create a registration token for N clients; prints it once')
    .requiredOption('--count <n>', 'how many clients may be registered with it')
    .requiredOption('--expires <duration>', 'until when it can be used (7d, ISO date)')
    .option('--description <text>', 'what it is for')
    .option('--grant-types <grants...>', 'allowed grant types (e.g. client_credentials)')
    .option('--redirect-host <hosts...>', 'allowed redirect URI hosts (subdomains included)')
    .option('--scope <scopes>', 'allowed scopes, space-separated (clients that ask for none get these)')
    .option('--approval', 'clients made with it start disabled until an approver enables them from an e-mailed link')
    .option('--acl-token-id <id>', 'people holding this ACL token may use the clients registered with it')
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: CreateOptions) => {
        const made = await invoke(
          createRegistrationToken,
          { gh, actor },
          {
            count: count(opts.count),
            expires: opts.expires,
            description: opts.description,
            grantTypes: opts.grantTypes,
            redirectHosts: opts.redirectHost,
            scope: opts.scope,
            approval: Boolean(opts.approval),
            aclTokenId: opts.aclTokenId,
          },
        );
        out.record(
          made,
          'The token is shown only now. Devices use it with: gatehouse agent register --issuer ' +
            gh.config.issuer +
            ' --registration-token <token> --state <file>',
        );
        if (!gh.config.registration.enabled)
          process.stderr.write('gatehouse: note: registration.enabled is false in the config; the server refuses registrations until it is true\n');
      }),
    );

  rt.command('list')
    .description('list registration tokens with their uses left')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listRegistrationTokens, { gh, actor }, {}), ['id', 'description', 'uses', 'count', 'usesLeft', 'state', 'expires']);
      }),
    );

  rt.command('show')
    .description('show one registration token')
    .argument('<id>', 'registration token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showRegistrationToken, { gh, actor }, { id }));
      }),
    );

  rt.command('revoke')
    .description('revoke a registration token: no more clients can be registered with it')
    .argument('<id>', 'registration token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(revokeRegistrationToken, { gh, actor }, { id }));
      }),
    );
  return rt;
}
