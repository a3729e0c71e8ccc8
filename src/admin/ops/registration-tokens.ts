/** Registration tokens (counted RFC 7591 initial access tokens): list, show, create (the secret shown once), revoke. */
import { z } from 'zod';
import type { Gatehouse } from '../../context.ts';
import { parseExpiry } from '../../config/duration.ts';
import type { RegistrationTokenRow } from '../../db/repos/registration.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { parseTemplate } from '../../registration/rules.ts';
import { tokenState } from '../../registration/tokens.ts';
import { operation } from '../operation.ts';
import { idParam, instant, iso } from './shapes.ts';

export const registrationToken = z.object({
  id: z.string(),
  description: z.string().nullable(),
  count: z.number().int().describe('how many clients may be registered with it'),
  uses: z.number().int().describe('clients registered with it so far'),
  usesLeft: z.number().int(),
  state: z.enum(['active', 'revoked', 'expired', 'used up']),
  grantTypes: z.array(z.string()).nullable(),
  redirectHosts: z.array(z.string()).nullable(),
  scope: z.string().nullable(),
  approval: z.boolean().describe('clients made with it start disabled until an approver enables them'),
  aclTokenId: z.string().nullable(),
  expires: instant,
  revoked: instant,
  created: instant,
  createdBy: z.string(),
});

export function registrationTokenView(row: RegistrationTokenRow, now: number): z.input<typeof registrationToken> {
  const template = parseTemplate(row.template);
  return {
    id: row.id,
    description: row.description,
    count: row.max_clients,
    uses: row.uses,
    usesLeft: Math.max(0, row.max_clients - row.uses),
    state: tokenState(row, now),
    grantTypes: template?.grantTypes ?? null,
    redirectHosts: template?.redirectHosts ?? null,
    scope: template?.scope ?? null,
    approval: Boolean(row.approval),
    aclTokenId: row.acl_token_id,
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
    createdBy: row.created_by,
  };
}

/** The input fields the domain's messages name by their CLI flag (`--count must …`), for the API's `details.field`. */
const flagFields: Record<string, string> = {
  '--count': 'count',
  '--expires': 'expires',
  '--grant-types': 'grantTypes',
  '--redirect-host': 'redirectHosts',
  '--acl-token-id': 'aclTokenId',
  '--max-devices': 'maxDevices',
  '--description': 'description',
  '--client-template': 'clientTemplate',
};

/** Runs `body`; an `input.invalid` without a field that names a flag gets that flag's field. */
export async function naming<T>(body: () => Promise<T> | T, field?: string): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (!isGatehouseError(err) || err.details?.field !== undefined || (err.code !== 'input.invalid' && err.code !== 'not_found')) throw err;
    const named = field ?? flagFields[/^(--[a-z-]+)/.exec(err.message)?.[1] ?? ''];
    if (!named) throw err;
    throw new GatehouseError(err.code, err.message, { ...err.details, field: named });
  }
}

/** `30s | 15m | 12h | 7d | ISO date` from now as epoch ms, an `input.invalid` naming `field` otherwise. */
export function expiryFrom(gh: Gatehouse, text: string, field = 'expires'): Promise<number> {
  return naming(() => parseExpiry(text, new Date(gh.clock.now())).getTime(), field);
}

const byId = z.object({ id: idParam });

export const listRegistrationTokens = operation({
  name: 'registrationTokens.list',
  method: 'GET',
  path: '/registration-tokens',
  tag: 'registration tokens',
  summary: 'List registration tokens with their uses (never the token itself)',
  input: z.object({}),
  output: z.array(registrationToken),
  paginated: true,
  async run({ gh }) {
    const now = gh.clock.now();
    return (await gh.registrationTokens.list()).map((r) => registrationTokenView(r, now));
  },
});

export const showRegistrationToken = operation({
  name: 'registrationTokens.show',
  method: 'GET',
  path: '/registration-tokens/:id',
  tag: 'registration tokens',
  summary: 'One registration token',
  input: byId,
  output: registrationToken,
  run: async ({ gh }, { id }) => registrationTokenView(await gh.registrationTokens.get(id), gh.clock.now()),
});

export const createRegistrationToken = operation({
  name: 'registrationTokens.create',
  method: 'POST',
  path: '/registration-tokens',
  tag: 'registration tokens',
  summary: 'Create a registration token for `count` clients; the answer holds the token, shown only this once',
  input: z.object({
    count: z.number().int().min(1).max(1_000_000).describe('how many clients may be registered with it'),
    expires: z.string().min(1).max(100).describe('until when it can be used: 30s, 15m, 12h, 7d or an ISO date'),
    description: z.string().max(500).optional(),
    grantTypes: z.array(z.string().min(1).max(100)).max(10).optional().describe('allowed grant types (e.g. client_credentials)'),
    redirectHosts: z.array(z.string().min(1).max(255)).max(50).optional().describe('allowed redirect URI hosts (subdomains included)'),
    scope: z.string().max(1000).optional().describe('allowed scopes, space-separated'),
    approval: z.boolean().optional().describe('clients made with it start disabled until an approver enables them'),
    aclTokenId: z.string().min(1).max(200).optional().describe('people holding this ACL token may use the clients registered with it'),
  }),
  output: registrationToken.extend({ token: z.string().describe('the secret, shown only now'), registrationEndpoint: z.string() }),
  status: 201,
  async run({ gh, actor }, input) {
    const expiresAt = await expiryFrom(gh, input.expires);
    const made = await naming(() =>
      gh.registrationTokens.create(
        {
          count: input.count,
          expiresAt,
          description: input.description || null,
          template: { grantTypes: input.grantTypes, redirectHosts: input.redirectHosts, scope: input.scope },
          approval: Boolean(input.approval),
          aclTokenId: input.aclTokenId ?? null,
        },
        actor,
      ),
    );
    return { ...registrationTokenView(made.row, gh.clock.now()), token: made.token, registrationEndpoint: `${gh.config.issuer}/reg` };
  },
});

export const revokeRegistrationToken = operation({
  name: 'registrationTokens.revoke',
  method: 'POST',
  path: '/registration-tokens/:id/revoke',
  tag: 'registration tokens',
  summary: 'Revoke a registration token: no more clients can be registered with it (those registered stay)',
  input: byId,
  output: registrationToken,
  run: async ({ gh, actor }, { id }) => registrationTokenView(await gh.registrationTokens.revoke(id, actor), gh.clock.now()),
});

export const registrationTokenOps = [listRegistrationTokens, showRegistrationToken, createRegistrationToken, revokeRegistrationToken];
