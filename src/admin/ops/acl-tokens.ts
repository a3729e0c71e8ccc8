/**
 * ACL tokens (invitations): list with their state, show (uses, linked
 * clients with their client tokens, the users who redeemed it), create (the
 * secret and the invitation link are in the creating answer only, never
 * again), revoke (its users lose the access it gave at their next
 * authorization or refresh).
 */
import { z } from 'zod';
import type { Gatehouse } from '../../context.ts';
import type { AclTokenRow } from '../../db/repos/acl-tokens.ts';
import { aclTokenState } from '../../gating/acl-tokens.ts';
import { operation } from '../operation.ts';
import { clientToken, clientTokenView, duration, expiryInput, requireClient } from './client-tokens.ts';
import { idParam, instant, iso } from './shapes.ts';

export const aclTokenStates = ['active', 'used up', 'expired', 'revoked'] as const;

export const aclToken = z.object({
  id: z.string(),
  description: z.string().nullable(),
  kind: z.enum(['invitation', 'personal', 'global', 'bootstrap']),
  maxUsers: z.number().int().describe('how many people can use it; 0 = no limit'),
  uses: z.number().int().describe('how many people have used it'),
  state: z.enum(aclTokenStates),
  expires: instant.describe('until when it can be used; null = no end'),
  revoked: instant,
  created: instant,
  createdBy: z.string(),
  requireMfa: z.boolean().optional().describe('true: whoever signs in through it enrolls a second factor (absent otherwise)'),
});

export const redeemer = z.object({ id: z.string(), email: z.string().nullable(), name: z.string().nullable() });

export const aclTokenDetails = aclToken.extend({
  clients: z.array(clientToken).describe('the client tokens it links: the clients it opens, with how long that access lasts'),
  users: z.array(z.string()).describe('ids of the users who redeemed it'),
  redeemedBy: z.array(redeemer).describe('the same users, with e-mail and name'),
});

export const createdAclToken = aclToken.extend({
  token: z.string().describe('the secret, shown only now'),
  link: z.string().describe('the invitation link (`<issuer>/invite/<token>`), shown only now'),
  clients: z.array(z.string()).describe('the client ids it opens'),
});

export function aclTokenView(row: AclTokenRow, now: number): z.input<typeof aclToken> {
  return {
    id: row.id,
    description: row.description,
    kind: row.kind,
    maxUsers: row.max_users,
    uses: row.uses,
    state: aclTokenState(row, now),
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
    createdBy: row.created_by,
    ...(row.require_mfa ? { requireMfa: true } : {}),
  };
}

async function details(gh: Gatehouse, id: string): Promise<z.input<typeof aclTokenDetails>> {
  const now = gh.clock.now();
  const found = await gh.aclTokens.get(id);
  const people = new Map(found.users.length ? (await gh.users.list()).map((u) => [u.id, u]) : []);
  return {
    ...aclTokenView(found, now),
    clients: found.clients.map((c) => clientTokenView(c, now)),
    users: found.users,
    redeemedBy: found.users.map((u) => ({ id: u, email: people.get(u)?.email ?? null, name: people.get(u)?.name ?? null })),
  };
}

const byId = z.object({ id: idParam });

export const listAclTokens = operation({
  name: 'aclTokens.list',
  method: 'GET',
  path: '/acl-tokens',
  tag: 'invitations',
  summary: 'List invitations (ACL tokens) with their uses and state, oldest first; `state` keeps those in one state',
  input: z.object({ state: z.enum(aclTokenStates).optional().describe('active, used up, expired or revoked') }),
  output: z.array(aclToken),
  paginated: true,
  async run({ gh }, { state }) {
    const now = gh.clock.now();
    return (await gh.aclTokens.list()).map((r) => aclTokenView(r, now)).filter((t) => !state || t.state === state);
  },
});

export const showAclToken = operation({
  name: 'aclTokens.show',
  method: 'GET',
  path: '/acl-tokens/:id',
  tag: 'invitations',
  summary: 'One invitation with its uses, the clients it opens (their client tokens) and the users who redeemed it',
  input: byId,
  output: aclTokenDetails,
  run: ({ gh }, { id }) => details(gh, id),
});

export const createAclToken = operation({
  name: 'aclTokens.create',
  method: 'POST',
  path: '/acl-tokens',
  tag: 'invitations',
  summary: 'Create an invitation for one or more clients; its secret `token` and `link` are in this answer only',
  input: z.object({
    maxUsers: z.number().int().min(0).max(1_000_000).describe('1 = personal, N = at most N people, 0 = unlimited'),
    clients: z.array(z.string().min(1).max(200)).min(1).max(100).describe('client ids (static or registered) the invitation opens'),
    clientExpires: duration
      .optional()
      .describe('until when the access to those clients lasts (for everyone who redeems it): a duration from now (`90d`) or an ISO date; none = no end'),
    expires: duration.optional().describe('until when the invitation can be used: a duration from now (`30d`) or an ISO date; none = no end'),
    description: z.string().max(500).optional().describe('what it is for'),
    requireMfa: z.boolean().optional().describe('whoever signs in through it must enroll a second factor (TOTP, a passkey) at that sign-in'),
  }),
  output: createdAclToken,
  status: 201,
  async run({ gh, actor }, input) {
    const now = gh.clock.now();
    const clients = [...new Set(input.clients)];
    const expiresAt = input.expires === undefined ? null : expiryInput(input.expires, now, 'expires');
    const clientExpiresAt = input.clientExpires === undefined ? null : expiryInput(input.clientExpires, now, 'clientExpires');
    for (const clientId of clients) await requireClient((id) => gh.clients.exists(id), clientId, 'clients');
    const made = await gh.aclTokens.create(
      { maxUsers: input.maxUsers, clients, clientExpiresAt, expiresAt, description: input.description ?? null, requireMfa: input.requireMfa ?? false },
      actor,
    );
    return {
      ...aclTokenView(made.row, now),
      token: made.token,
      link: `${gh.config.issuer}/invite/${made.token}`,
      clients: made.clientTokens.map((c) => c.client_id),
    };
  },
});

export const revokeAclToken = operation({
  name: 'aclTokens.revoke',
  method: 'POST',
  path: '/acl-tokens/:id/revoke',
  tag: 'invitations',
  summary: 'Revoke an invitation: nobody can use it any more, and its users lose the access it gave at their next authorization or refresh',
  input: byId,
  output: aclToken,
  run: async ({ gh, actor }, { id }) => aclTokenView(await gh.aclTokens.revoke(id, actor), gh.clock.now()),
});

export const aclTokenOps = [listAclTokens, showAclToken, createAclToken, revokeAclToken];
