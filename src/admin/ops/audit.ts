/**
 * The audit log, newest first, filtered by actor, action (exact, or a family
 * such as `client.*`), subject, client and a time range. The log has no
 * client column: `client` keeps the entries whose subject is that client
 * (client.*, gate.*, device.* actions) or whose details name it as `client`
 * (join requests, client tokens, ACL token links); see src/audit/audit.ts.
 */
import { z } from 'zod';
import { searchAudit, type AuditEvent } from '../../audit/audit.ts';
import { GatehouseError } from '../../errors.ts';
import { operation } from '../operation.ts';

/** At most this many of the newest matching entries are listed (and paged through). */
export const auditListMax = 10_000;

export const auditEntry = z.object({
  id: z.number().int(),
  time: z.iso.datetime(),
  actor: z.string().describe('who acted: `admin:<email>`, `key:<id>`, `cli:<user>`, `user:<id>`, `system`…'),
  action: z.string(),
  subject: z.string().nullable().describe('what was acted on (a user, client, token… id)'),
  client: z.string().nullable().describe('the client the entry concerns, if any'),
  details: z.record(z.string(), z.unknown()).nullable(),
});

const when = z.iso.datetime({ offset: true });

export const auditFilter = z.object({
  actor: z.string().min(1).max(320).optional().describe('exactly this actor'),
  action: z.string().min(1).max(64).optional().describe('exactly this action, or a family ending in `*` (`client.*`)'),
  subject: z.string().min(1).max(255).optional().describe('exactly this subject'),
  client: z.string().min(1).max(255).optional().describe('entries about this client id'),
  from: when.optional().describe('at or after this instant (ISO 8601, e.g. 2026-12-01T00:00:00Z)'),
  to: when.optional().describe('at or before this instant (ISO 8601)'),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe('only entries older than the one with this id: pages that stay put while new entries arrive (pass the last id seen)'),
});

export function auditView(e: AuditEvent): z.input<typeof auditEntry> {
  return { id: e.id, time: new Date(e.at).toISOString(), actor: e.actor, action: e.action, subject: e.subject, client: e.client, details: e.details };
}

export const listAudit = operation({
  name: 'audit.list',
  method: 'GET',
  path: '/audit',
  tag: 'audit',
  summary: `The audit log, newest first (at most the newest ${auditListMax} matches), filtered by actor, action, subject, client and time`,
  input: auditFilter,
  output: z.array(auditEntry),
  paginated: true,
  async run({ gh }, input) {
    const from = input.from === undefined ? undefined : Date.parse(input.from);
    const to = input.to === undefined ? undefined : Date.parse(input.to);
    if (from !== undefined && to !== undefined && from > to) throw new GatehouseError('input.invalid', 'to: must not lie before from', { field: 'to' });
    const events = await searchAudit(
      gh.db,
      { actor: input.actor, action: input.action, subject: input.subject, client: input.client, from, to, beforeId: input.before },
      auditListMax,
    );
    return events.map(auditView);
  },
});

export const auditOps = [listAudit];
