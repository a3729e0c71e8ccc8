/**
 * Client tokens: access to one client until an expiry, linked from ACL tokens
 * (invitations). List, create (the secret is in the creating answer only),
 * revoke. `clientTokenView` is also the shape an invitation's `clients` use.
 */
import { z } from 'zod';
import { parseExpiry } from '../../config/duration.ts';
import type { ClientTokenRow } from '../../db/repos/acl-tokens.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { clientTokenState } from '../../gating/acl-tokens.ts';
import { operation } from '../operation.ts';
import { idParam, instant, iso } from './shapes.ts';

export const clientToken = z.object({
  id: z.string(),
  client: z.string().describe('the client id it opens'),
  state: z.enum(['active', 'expired', 'revoked']),
  expires: instant.describe('when the access it gives ends; null = no end'),
  revoked: instant,
  created: instant,
});

export function clientTokenView(row: ClientTokenRow, now: number): z.input<typeof clientToken> {
  return {
    id: row.id,
    client: row.client_id,
    state: clientTokenState(row, now),
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
  };
}

/** A duration (`30d`) or ISO date as epoch ms from now; a bad one is an `input.invalid` naming `field`, with parseExpiry's words. */
export function expiryInput(text: string, now: number, field: string): number {
  try {
    return parseExpiry(text, new Date(now)).getTime();
  } catch (err) {
    if (isGatehouseError(err, 'input.invalid')) throw new GatehouseError('input.invalid', err.message, { field });
    throw err;
  }
}

/** Refuses a client id nobody knows, naming the field (the service refuses it too, without a field). */
export async function requireClient(exists: (id: string) => Promise<boolean>, clientId: string, field: string): Promise<void> {
  if (!(await exists(clientId))) throw new GatehouseError('not_found', `no client with id ${clientId}`, { field });
}

export const duration = z
  .string()
  .min(1)
  .max(100)
  .describe('a duration from now (`30s`, `15m`, `12h`, `7d`, `2w`) or an ISO date (`2027-01-31`, `2027-01-31T12:00:00Z`)');

const byId = z.object({ id: idParam });

export const listClientTokens = operation({
  name: 'clientTokens.list',
  method: 'GET',
  path: '/client-tokens',
  tag: 'client tokens',
  summary: 'List client tokens, oldest first; `client` keeps those of one client',
  input: z.object({ client: z.string().min(1).max(200).optional().describe('a client id') }),
  output: z.array(clientToken),
  paginated: true,
  async run({ gh }, { client }) {
    const now = gh.clock.now();
    return (await gh.aclTokens.listClientTokens()).filter((r) => !client || r.client_id === client).map((r) => clientTokenView(r, now));
  },
});

export const createClientToken = operation({
  name: 'clientTokens.create',
  method: 'POST',
  path: '/client-tokens',
  tag: 'client tokens',
  summary: 'Create a client token for one client; its secret `token` is in this answer only',
  input: z.object({ client: z.string().min(1).max(200).describe('a client id (static or registered)'), expires: duration }),
  output: clientToken.extend({ token: z.string().describe('the secret, shown only now') }),
  status: 201,
  async run({ gh, actor }, input) {
    const now = gh.clock.now();
    const expiresAt = expiryInput(input.expires, now, 'expires');
    await requireClient((id) => gh.clients.exists(id), input.client, 'client');
    const made = await gh.aclTokens.createClientToken(input.client, expiresAt, actor);
    return { ...clientTokenView(made.row, now), token: made.token };
  },
});

export const revokeClientToken = operation({
  name: 'clientTokens.revoke',
  method: 'POST',
  path: '/client-tokens/:id/revoke',
  tag: 'client tokens',
  summary: 'Revoke a client token: nobody reaches its client through it any more',
  input: byId,
  output: clientToken,
  run: async ({ gh, actor }, { id }) => clientTokenView(await gh.aclTokens.revokeClientToken(id, actor), gh.clock.now()),
});

export const clientTokenOps = [listClientTokens, createClientToken, revokeClientToken];
