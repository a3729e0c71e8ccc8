/**
 * Join and access requests: list (by status), show, approve (optionally for a
 * time: `for` = 30d, or an ISO date), deny. The same decisions as the mailed
 * approval links, taken by an admin; a request decided already answers 409
 * `join_request.already_decided`.
 */
import { z } from 'zod';
import { parseExpiry } from '../../config/duration.ts';
import type { Gatehouse } from '../../context.ts';
import type { JoinRequestRow } from '../../db/repos/join-requests.ts';
import { GatehouseError } from '../../errors.ts';
import { operation } from '../operation.ts';
import { idParam, instant, iso } from './shapes.ts';

export const joinRequestStatuses = ['pending', 'approved', 'denied', 'expired'] as const;

export const joinRequest = z.object({
  id: z.string(),
  kind: z.enum(['join', 'access']).describe('join: someone without an account; access: a known user asking for another client'),
  status: z.enum(joinRequestStatuses),
  email: z.string(),
  name: z.string().nullable(),
  client: z.string().describe('client id'),
  message: z.string().nullable(),
  created: instant,
  decidedBy: z.string().nullable().describe('who decided: an approver e-mail, `admin:<email>`, `key:<id>`, `cli:<user>`'),
  decided: instant,
  aclTokenId: z.string().nullable().describe('the personal invitation an approval made'),
});

export const joinRequestDetails = joinRequest.extend({
  accessEnds: instant.describe('when the access an approval gave ends; null = no end (or not approved)'),
  note: z.string().nullable().describe("the decider's note to the requester (a denial's reason), if any"),
});

export function joinRequestView(r: JoinRequestRow): z.input<typeof joinRequest> {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    email: r.email,
    name: r.name,
    client: r.client_id,
    message: r.message,
    created: iso(r.created_at),
    decidedBy: r.decided_by,
    decided: iso(r.decided_at),
    aclTokenId: r.acl_token_id,
  };
}

/** The request with the end of the access its approval gave (its personal token's client token expiry). */
export async function joinRequestDetailsView(gh: Gatehouse, r: JoinRequestRow): Promise<z.input<typeof joinRequestDetails>> {
  let accessEnds: string | null = null;
  if (r.acl_token_id) {
    const token = await gh.aclTokens.get(r.acl_token_id).catch(() => undefined);
    const ends = token?.clients.filter((c) => c.client_id === r.client_id).map((c) => c.expires_at) ?? [];
    accessEnds = ends.length === 0 || ends.includes(null) ? null : iso(Math.max(...(ends as number[])));
  }
  return { ...joinRequestView(r), accessEnds, note: r.decision_note ?? null };
}

/** A duration (`30d`) or ISO date from now, as epoch ms; a bad one is an `input.invalid` naming `field`. */
function endOf(gh: Gatehouse, text: string, field: string): number {
  try {
    return parseExpiry(text, new Date(gh.clock.now())).getTime();
  } catch (err) {
    if (err instanceof GatehouseError) throw new GatehouseError(err.code, `${field}: ${err.message}`, { field });
    throw err;
  }
}

const byId = z.object({ id: idParam });

export const listJoinRequests = operation({
  name: 'joinRequests.list',
  method: 'GET',
  path: '/join-requests',
  tag: 'join requests',
  summary: 'List join and access requests, oldest first; `status` keeps one status',
  input: z.object({ status: z.enum(joinRequestStatuses).optional() }),
  output: z.array(joinRequest),
  paginated: true,
  run: async ({ gh }, { status }) => (await gh.joinRequests.list(status)).map(joinRequestView),
});

export const showJoinRequest = operation({
  name: 'joinRequests.show',
  method: 'GET',
  path: '/join-requests/:id',
  tag: 'join requests',
  summary: 'One join or access request, with when the access its approval gave ends',
  input: byId,
  output: joinRequestDetails,
  run: async ({ gh }, { id }) => joinRequestDetailsView(gh, await gh.joinRequests.get(id)),
});

export const approveJoinRequest = operation({
  name: 'joinRequests.approve',
  method: 'POST',
  path: '/join-requests/:id/approve',
  tag: 'join requests',
  summary:
    'Approve a pending request: a personal invitation for its client, mailed to the requester (a known user gets the access at once); `for` time-boxes the access (30s, 15m, 12h, 7d or an ISO date)',
  input: byId.extend({
    for: z.string().min(1).max(40).optional().describe('how long the access lasts: 30s, 15m, 12h, 7d, or an ISO date when it ends; absent = no end'),
  }),
  output: joinRequestDetails,
  async run({ gh, actor }, input) {
    const accessEndsAt = input.for === undefined ? null : endOf(gh, input.for, 'for');
    return joinRequestDetailsView(gh, await gh.joinRequests.decide(input.id, 'approve', actor, undefined, { accessEndsAt }));
  },
});

export const denyJoinRequest = operation({
  name: 'joinRequests.deny',
  method: 'POST',
  path: '/join-requests/:id/deny',
  tag: 'join requests',
  summary: 'Deny a pending request: the requester gets a polite refusal by mail, with the note when one is given',
  input: byId.extend({ note: z.string().trim().max(1000).optional().describe('a word to the requester, sent in the refusal mail') }),
  output: joinRequestDetails,
  run: async ({ gh, actor }, { id, note }) =>
    joinRequestDetailsView(gh, await gh.joinRequests.decide(id, 'deny', actor, undefined, { note: note ? note : null })),
});

export const joinRequestOps = [listJoinRequests, showJoinRequest, approveJoinRequest, denyJoinRequest];
