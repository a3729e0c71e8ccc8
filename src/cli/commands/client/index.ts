/** `gatehouse client list|show`: static clients (config.yaml) and registered ones (database). */
import { Command } from 'commander';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';
import { listClients } from '../../../oidc/clients.ts';

export function clientCommands(): Command {
  const client = new Command('client').description('OAuth clients');
  client.command('list')
    .description('list static and registered clients')
    .action(withGatehouse(async ({ gh, out }) => {
      const clients = await listClients(gh);
      out.table(clients.map((c) => ({ id: c.clientId, name: c.name, source: c.source, grantTypes: c.grantTypes, redirectUris: c.redirectUris })), ['id', 'name', 'source', 'grantTypes', 'redirectUris']);
    }));
  client.command('show')
    .description('show one client')
    .argument('<id>', 'client id')
    .action(withGatehouse(async ({ gh, out }, id: string) => {
      const found = (await listClients(gh)).find((c) => c.clientId === id);
      if (!found) throw new GatehouseError('not_found', `no client with id ${id}`);
      out.record({ id: found.clientId, name: found.name, source: found.source, grantTypes: found.grantTypes, redirectUris: found.redirectUris, approvers: found.approvers, metadata: found.metadata });
    }));
  return client;
}
