/** Users: list, show (identities, access per client, second factors), create, set a password, send a reset link, disable, enable, delete, revoke access to one client, reset second factors. */
import { z } from 'zod';
import type { Gatehouse } from '../../context.ts';
import type { UserRow } from '../../db/repos/users.ts';
import { GatehouseError } from '../../errors.ts';
import { operation } from '../operation.ts';
import { deleted, idParam, instant, iso } from './shapes.ts';

export const user = z.object({
  id: z.string(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  status: z.enum(['active', 'disabled']),
  created: instant,
  lastLogin: instant,
});

export const access = z.object({
  client: z.string().describe('client id, or `*` when gating is off'),
  via: z.string().optional().describe('why, when not an invitation'),
  aclTokenId: z.string().optional().describe('the invitation that gives it'),
  expires: instant.describe('when the access ends; null = no end'),
});

export const identity = z.object({ connector: z.string(), subject: z.string(), email: z.string().nullable() });

export const factor = z.object({
  kind: z.string().describe('`totp` (authenticator app) or `passkey`'),
  name: z.string(),
  created: instant,
  lastUsed: instant,
});

export const userDetails = user.extend({
  identities: z.array(identity),
  access: z.array(access),
  factors: z.array(factor).describe('second factors (identity/mfa/): kinds and names, never their secrets'),
});

export function userView(u: UserRow): z.input<typeof user> {
  return { id: u.id, email: u.email, name: u.name, status: u.status, created: iso(u.created_at), lastLogin: iso(u.last_login_at) };
}

/** The clients a user can reach now, with the end of that access (null = no end). */
export async function accessView(gh: Gatehouse, userId: string): Promise<z.input<typeof access>[]> {
  if (gh.gate.mode === 'open') return [{ client: '*', via: 'gating off', expires: null }];
  return (await gh.gate.accessList(userId)).map((a) => ({ client: a.client_id, aclTokenId: a.acl_token_id, expires: iso(a.expires_at) }));
}

async function details(gh: Gatehouse, id: string): Promise<z.input<typeof userDetails>> {
  const found = await gh.users.get(id);
  return {
    ...userView(found),
    identities: found.identities.map((i) => ({ connector: i.connector_id, subject: i.subject, email: i.email })),
    access: await accessView(gh, id),
    factors: (await gh.mfa.factors(id)).map((f) => ({ kind: f.kind, name: f.name, created: iso(f.created), lastUsed: iso(f.lastUsed) })),
  };
}

const byId = z.object({ id: idParam });

export const listUsers = operation({
  name: 'users.list',
  method: 'GET',
  path: '/users',
  tag: 'users',
  summary: 'List users, oldest first; `q` keeps those whose e-mail or name contains it',
  input: z.object({ q: z.string().max(200).optional().describe('part of an e-mail address or name (any case)') }),
  output: z.array(user),
  paginated: true,
  async run({ gh }, { q }) {
    const needle = q?.toLowerCase();
    return (await gh.users.list())
      .filter((u) => !needle || (u.email ?? '').toLowerCase().includes(needle) || (u.name ?? '').toLowerCase().includes(needle))
      .map(userView);
  },
});

export const showUser = operation({
  name: 'users.show',
  method: 'GET',
  path: '/users/:id',
  tag: 'users',
  summary: 'One user with identities and access per client',
  input: byId,
  output: userDetails,
  run: ({ gh }, { id }) => details(gh, id),
});

export const createUser = operation({
  name: 'users.create',
  method: 'POST',
  path: '/users',
  tag: 'users',
  summary: 'Create a user with a local (e-mail + password) account; without a password it cannot sign in until one is set',
  input: z.object({
    email: z.email(),
    name: z.string().min(1).max(200).optional(),
    password: z.string().min(1).max(1024).optional(),
    aclTokenId: z.string().min(1).optional().describe('give the user this invitation (counts one use) and the access it links'),
  }),
  output: userDetails.extend({ hasPassword: z.boolean() }),
  status: 201,
  async run({ gh, actor }, input) {
    const tokenId = input.aclTokenId;
    const created = await gh.users.createLocal(
      { email: input.email, name: input.name, password: input.password },
      actor,
      tokenId ? (trx, u) => gh.gate.attachToken(trx, u.id, tokenId, actor) : undefined,
    );
    return { ...(await details(gh, created.id)), hasPassword: input.password !== undefined };
  },
});

export const setUserPassword = operation({
  name: 'users.setPassword',
  method: 'PUT',
  path: '/users/:id/password',
  tag: 'users',
  summary:
    "Set or replace the password of a user's local account; like a reset, it ends the user's sessions, grants and refresh tokens (console and account pages included) and voids open reset links",
  input: byId.extend({ password: z.string().min(1).max(1024) }),
  output: user,
  run: async ({ gh, actor }, { id, password }) => userView(await gh.users.setPassword(id, password, actor, { endSignIns: true })),
});

export const sendUserPasswordReset = operation({
  name: 'users.sendPasswordReset',
  method: 'POST',
  path: '/users/:id/password-reset',
  tag: 'users',
  summary:
    'Mail a password reset link (single-use, one hour) to the address of a user\'s local account, as "Forgot password?" does; audited password.reset_requested with the admin as actor. Nothing changes until the link\'s form is sent',
  input: byId,
  output: z.object({ id: z.string(), email: z.string().describe('where the link was sent'), sent: z.literal(true) }),
  async run({ gh, actor }, { id }) {
    const email = await gh.users.localAccountEmail(id);
    if (!gh.passwordResets) throw new GatehouseError('not_found', 'no local (e-mail + password) connector is configured, so there is no password to reset');
    await gh.passwordResets.request(email, undefined, { actor });
    return { id, email, sent: true as const };
  },
});

export const disableUser = operation({
  name: 'users.disable',
  method: 'POST',
  path: '/users/:id/disable',
  tag: 'users',
  summary: 'Disable a user: their sessions and tokens end',
  input: byId,
  output: user,
  run: async ({ gh, actor }, { id }) => userView(await gh.users.setStatus(id, 'disabled', actor)),
});

export const enableUser = operation({
  name: 'users.enable',
  method: 'POST',
  path: '/users/:id/enable',
  tag: 'users',
  summary: 'Enable a disabled user',
  input: byId,
  output: user,
  run: async ({ gh, actor }, { id }) => userView(await gh.users.setStatus(id, 'active', actor)),
});

export const deleteUser = operation({
  name: 'users.delete',
  method: 'DELETE',
  path: '/users/:id',
  tag: 'users',
  summary: 'Delete a user with identities, sessions and tokens',
  input: byId,
  output: deleted,
  async run({ gh, actor }, { id }) {
    await gh.users.delete(id, actor);
    return { id, deleted: true as const };
  },
});

export const revokeUserAccess = operation({
  name: 'users.revokeAccess',
  method: 'DELETE',
  path: '/users/:id/access/:client',
  tag: 'users',
  summary:
    "End a user's access to one client: the invitations that open it let go of the user (what they give at other clients is kept), the next authorization shows the gate and refresh tokens for it stop working",
  input: byId.extend({ client: z.string().min(1).max(255).describe('client id') }),
  output: userDetails,
  async run({ gh, actor }, { id, client }) {
    await gh.gate.revokeAccess(id, client, actor);
    return details(gh, id);
  },
});

export const resetUserMfa = operation({
  name: 'users.resetMfa',
  method: 'POST',
  path: '/users/:id/mfa/reset',
  tag: 'users',
  summary:
    'Remove every second factor (authenticator apps, passkeys) and recovery code of a user, audited mfa.reset; where a second factor is required they enroll a new one at their next sign-in',
  input: byId,
  output: userDetails.extend({ removed: z.object({ factors: z.number().int(), recoveryCodes: z.number().int() }) }),
  async run({ gh, actor }, { id }) {
    const removed = await gh.mfa.reset(id, actor);
    return { ...(await details(gh, id)), removed };
  },
});

export const userOps = [
  listUsers,
  showUser,
  createUser,
  setUserPassword,
  sendUserPasswordReset,
  disableUser,
  enableUser,
  deleteUser,
  revokeUserAccess,
  resetUserMfa,
];
