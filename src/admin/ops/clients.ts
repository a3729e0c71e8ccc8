/**
 * Clients: list and show (static ones from config.yaml, read-only, and
 * registered ones from the database), enable, disable, delete, set the
 * approvers of a registered client, whether it is discoverable and whether it
 * requires a second factor. A change to a static client is refused (400: it
 * is changed in config.yaml).
 */
import { z } from 'zod';
import type { Gatehouse } from '../../context.ts';
import { countUsersWithAccess } from '../../db/repos/registration.ts';
import { GatehouseError } from '../../errors.ts';
import type { ClientSummary } from '../../registration/clients.ts';
import { operation } from '../operation.ts';
import { idParam } from './shapes.ts';

export const client = z.object({
  id: z.string(),
  name: z.string().nullable(),
  source: z.enum(['static', 'registered']).describe('static: from config.yaml (read-only); registered: made through the registration endpoint'),
  state: z.string().describe('`enabled`, or `disabled (policy|approval|admin)`'),
  heldReason: z.enum(['policy', 'approval', 'admin', 'revoked']).nullable().describe('why a registered client is held, or null'),
  grantTypes: z.array(z.string()),
  redirectUris: z.array(z.string()),
  registrationTokenId: z.string().nullable().describe('the registration token it was registered with'),
  approvers: z.array(z.string()).describe('who decides its requests; empty = the global approvers (firstauth.mailer.receiver, else admins)'),
  usersWithAccess: z.number().int().nullable().describe('users who can reach it now; null when gating is off'),
  discoverable: z.boolean().describe('listed to signed-in people at /account/browse, where those without access can ask for it'),
  requireMfa: z.boolean().describe('every sign-in to it takes a second factor (static: clients[].requireMfa in config.yaml)'),
});

export const clientDetails = client.extend({
  metadata: z.record(z.string(), z.unknown()).describe('its client metadata, secrets left out'),
});

export const clientState = z.object({ id: z.string(), state: z.string() });

export function clientView(c: ClientSummary, users: Map<string, number> | null): z.input<typeof client> {
  return {
    id: c.clientId,
    name: c.name,
    source: c.source,
    state: c.state,
    heldReason: c.heldReason,
    grantTypes: c.grantTypes,
    redirectUris: c.redirectUris,
    registrationTokenId: c.registrationTokenId,
    approvers: c.approvers,
    usersWithAccess: users ? (users.get(c.clientId) ?? 0) : null,
    discoverable: c.discoverable,
    requireMfa: c.requireMfa,
  };
}

/** Users with access per client (null with gating off: everyone may sign in). */
async function usersWithAccess(gh: Gatehouse, ids: string[]): Promise<Map<string, number> | null> {
  if (gh.gate.mode === 'open') return null;
  return countUsersWithAccess(gh.db, ids, gh.clock.now());
}

export async function clientDetailsView(gh: Gatehouse, id: string): Promise<z.input<typeof clientDetails>> {
  const found = await gh.clients.find(id);
  if (!found) throw new GatehouseError('not_found', `no client with id ${id}`);
  return { ...clientView(found, await usersWithAccess(gh, [id])), metadata: found.metadata };
}

const byId = z.object({ id: idParam });

export const listClients = operation({
  name: 'clients.list',
  method: 'GET',
  path: '/clients',
  tag: 'clients',
  summary: 'List clients: the static ones (config.yaml) first, then the registered ones, oldest first; `source` keeps one kind',
  input: z.object({ source: z.enum(['static', 'registered']).optional() }),
  output: z.array(client),
  paginated: true,
  async run({ gh }, { source }) {
    const clients = (await gh.clients.list()).filter((c) => !source || c.source === source);
    const users = await usersWithAccess(
      gh,
      clients.map((c) => c.clientId),
    );
    return clients.map((c) => clientView(c, users));
  },
});

export const showClient = operation({
  name: 'clients.show',
  method: 'GET',
  path: '/clients/:id',
  tag: 'clients',
  summary: 'One client with its approvers and metadata (secrets left out)',
  input: byId,
  output: clientDetails,
  run: ({ gh }, { id }) => clientDetailsView(gh, id),
});

export const enableClient = operation({
  name: 'clients.enable',
  method: 'POST',
  path: '/clients/:id/enable',
  tag: 'clients',
  summary: 'Enable a registered client held by policy clientDisabled, an approval token, or an admin',
  input: byId,
  output: clientState,
  async run({ gh, actor }, { id }) {
    const record = await gh.registrar.setEnabled(id, true, actor);
    return { id: record.client_id, state: 'enabled' };
  },
});

export const disableClient = operation({
  name: 'clients.disable',
  method: 'POST',
  path: '/clients/:id/disable',
  tag: 'clients',
  summary: 'Disable a registered client: it cannot sign anybody in or get tokens, and its tokens stop working',
  input: byId,
  output: clientState,
  async run({ gh, actor }, { id }) {
    const record = await gh.registrar.setEnabled(id, false, actor);
    return { id: record.client_id, state: 'disabled (admin)' };
  },
});

export const deleteClient = operation({
  name: 'clients.delete',
  method: 'DELETE',
  path: '/clients/:id',
  tag: 'clients',
  summary: 'Delete a registered client: its access links, grants, tokens and codes go with it',
  input: byId,
  output: clientState,
  async run({ gh, actor }, { id }) {
    const record = await gh.registrar.delete(id, actor);
    return { id: record.client_id, state: 'deleted' };
  },
});

export const setClientApprovers = operation({
  name: 'clients.setApprovers',
  method: 'PUT',
  path: '/clients/:id/approvers',
  tag: 'clients',
  summary:
    "Set a registered client's approvers: they get the mails for its join and access requests and its approval mail; an empty list clears them (the global approvers decide again)",
  input: byId.extend({ approvers: z.array(z.string().max(320)).max(50).describe('e-mail addresses; [] clears them') }),
  output: clientDetails,
  async run({ gh, actor }, { id, approvers }) {
    await gh.registrar.setApprovers(id, approvers, actor);
    return clientDetailsView(gh, id);
  },
});

export const setClientDiscoverable = operation({
  name: 'clients.setDiscoverable',
  method: 'PUT',
  path: '/clients/:id/discoverable',
  tag: 'clients',
  summary:
    'List a registered client to signed-in people at /account/browse ("Other apps"), where those without access can ask for it, or stop listing it (static clients: clients[].discoverable in config.yaml)',
  input: byId.extend({ discoverable: z.boolean().describe('true: listed; false: not listed') }),
  output: clientDetails,
  async run({ gh, actor }, { id, discoverable }) {
    await gh.registrar.setDiscoverable(id, discoverable, actor);
    return clientDetailsView(gh, id);
  },
});

export const setClientRequireMfa = operation({
  name: 'clients.setRequireMfa',
  method: 'PUT',
  path: '/clients/:id/require-mfa',
  tag: 'clients',
  summary:
    'Make every sign-in to a registered client take a second factor (the person gives one, or sets one up, before the application gets its code), or stop requiring it (static clients: clients[].requireMfa in config.yaml)',
  input: byId.extend({ requireMfa: z.boolean().describe('true: a second factor at every sign-in; false: only when something else asks for one') }),
  output: clientDetails,
  async run({ gh, actor }, { id, requireMfa }) {
    await gh.registrar.setRequireMfa(id, requireMfa, actor);
    return clientDetailsView(gh, id);
  },
});

export const clientOps = [listClients, showClient, enableClient, disableClient, deleteClient, setClientApprovers, setClientDiscoverable, setClientRequireMfa];
