/** `gatehouse client list|show|enable|disable|delete|set-approvers|set-discoverable|set-require-mfa`: static clients (config.yaml) and registered ones (database), through the admin operations. */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import {
  deleteClient,
  disableClient,
  enableClient,
  listClients,
  setClientApprovers,
  setClientDiscoverable,
  setClientRequireMfa,
  showClient,
} from '../../../admin/ops/clients.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

export function clientCommands(): Command {
  const client = new Command('client').description('OAuth clients');
  client
    .command('list')
    .description('list static and registered clients')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listClients, { gh, actor }, {}), ['id', 'name', 'source', 'state', 'grantTypes', 'redirectUris', 'usersWithAccess']);
      }),
    );
  client
    .command('show')
    .description('show one client')
    .argument('<id>', 'client id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showClient, { gh, actor }, { id }));
      }),
    );
  for (const [verb, op, description] of [
    ['enable', enableClient, 'enable a registered client (held by policy clientDisabled, an approval token, or an admin)'],
    ['disable', disableClient, 'disable a registered client: it cannot sign anybody in or get tokens, and its tokens stop working'],
    ['delete', deleteClient, 'delete a registered client: its access links, grants, tokens and codes go with it'],
  ] as const) {
    client
      .command(verb)
      .description(description)
      .argument('<id>', 'client id')
      .action(
        withGatehouse(async ({ gh, out, actor }, id: string) => {
          out.record(await invoke(op, { gh, actor }, { id }));
        }),
      );
  }
  client
    .command('set-approvers')
    .description("set a registered client's approvers: they get its join/access request mails and its approval mail (static clients: config.yaml)")
    .argument('<id>', 'client id')
    .argument('[emails...]', 'approver e-mail addresses (replace the current ones)')
    .option('--clear', 'remove its approvers: the global approvers (firstauth.mailer.receiver, else admins) decide again')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string, emails: string[], opts: { clear?: boolean }) => {
        if (opts.clear && emails.length > 0) throw new GatehouseError('input.invalid', 'give either e-mail addresses or --clear, not both');
        if (!opts.clear && emails.length === 0) {
          throw new GatehouseError(
            'input.invalid',
            "give the approvers' e-mail addresses (gatehouse client set-approvers ID EMAIL...), or --clear to remove them",
          );
        }
        out.record(await invoke(setClientApprovers, { gh, actor }, { id, approvers: opts.clear ? [] : emails }));
      }),
    );
  client
    .command('set-discoverable')
    .description('list a registered client to people at /account/browse, where those without access can ask for it, or stop (static clients: config.yaml)')
    .argument('<id>', 'client id')
    .argument('<value>', 'true (listed) or false (not listed)')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string, value: string) => {
        const answer = value.trim().toLowerCase();
        if (answer !== 'true' && answer !== 'false') {
          throw new GatehouseError('input.invalid', `say true or false (gatehouse client set-discoverable ID true|false), not "${value}"`);
        }
        out.record(await invoke(setClientDiscoverable, { gh, actor }, { id, discoverable: answer === 'true' }));
      }),
    );
  client
    .command('set-require-mfa')
    .description('make every sign-in to a registered client take a second factor (TOTP, a passkey), or stop (static clients: config.yaml)')
    .argument('<id>', 'client id')
    .argument('<value>', 'true (a second factor at every sign-in) or false')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string, value: string) => {
        const answer = value.trim().toLowerCase();
        if (answer !== 'true' && answer !== 'false') {
          throw new GatehouseError('input.invalid', `say true or false (gatehouse client set-require-mfa ID true|false), not "${value}"`);
        }
        out.record(await invoke(setClientRequireMfa, { gh, actor }, { id, requireMfa: answer === 'true' }));
      }),
    );
  return client;
}
