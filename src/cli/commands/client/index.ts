/** `gatehouse client list|show`: static clients (config.yaml) and registered ones (database). */
import { Command } from 'commander';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

export function clientCommands(): Command {
  const client = new Command('client').description('OAuth clients');
  client
    .command('list')
    .description('list static and registered clients')
    .action(
      withGatehouse(async ({ gh, out }) => {
        const clients = await gh.clients.list();
        out.table(
          clients.map((c) => ({
            id: c.clientId,
            name: c.name,
            source: c.source,
            state: c.state,
            grantTypes: c.grantTypes,
            redirectUris: c.redirectUris,
            registrationTokenId: c.registrationTokenId,
          })),
          ['id', 'name', 'source', 'state', 'grantTypes', 'redirectUris'],
        );
      }),
    );
  client
    .command('show')
    .description('show one client')
    .argument('<id>', 'client id')
    .action(
      withGatehouse(async ({ gh, out }, id: string) => {
        const found = (await gh.clients.list()).find((c) => c.clientId === id);
        if (!found) throw new GatehouseError('not_found', `no client with id ${id}`);
        out.record({
          id: found.clientId,
          name: found.name,
          source: found.source,
          state: found.state,
          registrationTokenId: found.registrationTokenId,
          grantTypes: found.grantTypes,
          redirectUris: found.redirectUris,
          approvers: found.approvers,
          metadata: found.metadata,
        });
      }),
    );
  client
    .command('enable')
    .description('enable a registered client (held by policy clientDisabled, an approval token, or an admin)')
    .argument('<id>', 'client id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        const record = await gh.registrar.setEnabled(id, true, actor);
        out.record({ id: record.client_id, state: 'enabled' });
      }),
    );
  client
    .command('disable')
    .description('disable a registered client: it cannot sign anybody in or get tokens, and its tokens stop working')
    .argument('<id>', 'client id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        const record = await gh.registrar.setEnabled(id, false, actor);
        out.record({ id: record.client_id, state: 'disabled (admin)' });
      }),
    );
  client
    .command('delete')
    .description('delete a registered client: its access links, grants, tokens and codes go with it')
    .argument('<id>', 'client id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        const record = await gh.registrar.delete(id, actor);
        out.record({ id: record.client_id, state: 'deleted' });
      }),
    );
  return client;
}
