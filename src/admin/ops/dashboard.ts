/**
 * The dashboard: what needs an admin's eye, in one answer. Who is waiting
 * (pending join and access requests, oldest first), which invitations are
 * running out (active ones at 80% of their uses or expiring within 7 days),
 * what the gate decided over the last 14 UTC days, which devices enrolled in
 * that time (newest first), and how the mail queue is doing.
 */
import { z } from 'zod';
import type { Gatehouse } from '../../context.ts';
import { gateDecisionsByDay, dayMs } from '../../audit/stats.ts';
import type { AclTokenRow } from '../../db/repos/acl-tokens.ts';
import { countMailQueue, listFailingMail } from '../../db/repos/dashboard.ts';
import { aclTokenState } from '../../gating/acl-tokens.ts';
import { operation } from '../operation.ts';
import { instant, iso } from './shapes.ts';

/** The window of the chart and of the recent enrolments, in days. */
export const dashboardDays = 14;
/** An invitation expiring within this many days is running out. */
export const expiringWithinDays = 7;
/** An invitation with at least this share of its uses taken is running out. */
export const usedShare = 0.8;
const listed = { requests: 50, invitations: 50, enrolments: 10, failingMail: 5 };

const counts = z.record(z.string(), z.number().int()).describe('refusals by reason (an error code such as `acl_token.exhausted`, or `no_access`)');

export const gateDay = z.object({
  day: z.string().describe('UTC day, YYYY-MM-DD'),
  allowed: z.number().int(),
  refused: z.number().int(),
  reasons: counts,
});

export const dashboard = z.object({
  generated: z.iso.datetime(),
  requests: z.object({
    pending: z.number().int().describe('pending join and access requests'),
    items: z
      .array(
        z.object({
          id: z.string(),
          kind: z.enum(['join', 'access']),
          email: z.string(),
          name: z.string().nullable(),
          client: z.string(),
          created: z.iso.datetime(),
          ageSeconds: z.number().int(),
        }),
      )
      .describe(`the oldest ${listed.requests}, oldest first`),
  }),
  invitations: z.object({
    runningOut: z.number().int(),
    items: z
      .array(
        z.object({
          id: z.string(),
          description: z.string().nullable(),
          kind: z.string(),
          uses: z.number().int(),
          maxUsers: z.number().int(),
          expires: instant,
          why: z.array(z.enum(['uses', 'expiry'])).describe(`uses: at least ${usedShare * 100}% used; expiry: ends within ${expiringWithinDays} days`),
        }),
      )
      .describe('active invitations running out, the soonest to end first'),
  }),
  gate: z.object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    allowed: z.number().int(),
    refused: z.number().int(),
    reasons: counts,
    days: z.array(gateDay).describe(`one per UTC day, ${dashboardDays} days, oldest first, today last`),
  }),
  enrolments: z.object({
    recent: z.number().int().describe(`devices enrolled in the last ${dashboardDays} days`),
    items: z
      .array(
        z.object({
          clientId: z.string(),
          name: z.string().nullable(),
          manufacturerId: z.string().nullable(),
          deviceTokenId: z.string().nullable(),
          enrolled: z.iso.datetime(),
          disabled: z.string().nullable().describe('why the device is held, if it is'),
        }),
      )
      .describe(`the newest ${listed.enrolments}`),
  }),
  mail: z.object({
    queued: z.number().int().describe('not sent yet, failing ones included'),
    failing: z.number().int().describe('queued mail that failed at least once'),
    oldestQueued: instant,
    sentRecently: z.number().int().describe(`mail sent in the last ${dashboardDays} days`),
    failingItems: z
      .array(
        z.object({
          id: z.number().int(),
          to: z.string(),
          subject: z.string(),
          attempts: z.number().int(),
          error: z.string(),
          queued: z.iso.datetime(),
          nextAttempt: z.iso.datetime(),
        }),
      )
      .describe(`up to ${listed.failingMail}, the latest next attempt first; the first one's error is the last error`),
  }),
});

export type Dashboard = z.output<typeof dashboard>;

/** Why an invitation is running out (nothing when it is not, or is no longer active). */
export function runningOut(row: AclTokenRow, now: number): ('uses' | 'expiry')[] {
  if (aclTokenState(row, now) !== 'active') return [];
  const why: ('uses' | 'expiry')[] = [];
  if (row.max_users > 0 && row.uses >= usedShare * row.max_users) why.push('uses');
  if (row.expires_at !== null && row.expires_at - now <= expiringWithinDays * dayMs) why.push('expiry');
  return why;
}

/** The share of an invitation's uses still free (1 when unlimited). */
function left(row: AclTokenRow): number {
  return row.max_users > 0 ? 1 - row.uses / row.max_users : 1;
}

/** Everything on the dashboard, as of the gatehouse's clock. */
export async function dashboardOf(gh: Gatehouse): Promise<z.input<typeof dashboard>> {
  const now = gh.clock.now();
  const since = now - dashboardDays * dayMs;
  const [pending, tokens, gate, devices, mail, failing] = await Promise.all([
    gh.joinRequests.list('pending'),
    gh.aclTokens.list(),
    gateDecisionsByDay(gh.db, gh.clock, dashboardDays),
    gh.registrar.listRegistered('device'),
    countMailQueue(gh.db, since),
    listFailingMail(gh.db, listed.failingMail),
  ]);

  const waiting = [...pending].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  const ending = tokens
    .map((row) => ({ row, why: runningOut(row, now) }))
    .filter((t) => t.why.length > 0)
    .sort((a, b) => (a.row.expires_at ?? Infinity) - (b.row.expires_at ?? Infinity) || left(a.row) - left(b.row) || a.row.id.localeCompare(b.row.id));
  const enrolled = devices.filter((d) => d.created_at >= since).sort((a, b) => b.created_at - a.created_at || b.client_id.localeCompare(a.client_id));
  const newest = await Promise.all(
    enrolled.slice(0, listed.enrolments).map(async (d) => ({
      clientId: d.client_id,
      name: (await gh.clients.find(d.client_id))?.name ?? null,
      manufacturerId: d.manufacturer_id ?? null,
      deviceTokenId: d.device_token_id ?? null,
      enrolled: iso(d.created_at)!,
      disabled: d.disabled_reason,
    })),
  );

  return {
    generated: iso(now)!,
    requests: {
      pending: waiting.length,
      items: waiting.slice(0, listed.requests).map((r) => ({
        id: r.id,
        kind: r.kind,
        email: r.email,
        name: r.name,
        client: r.client_id,
        created: iso(r.created_at)!,
        ageSeconds: Math.max(0, Math.floor((now - r.created_at) / 1000)),
      })),
    },
    invitations: {
      runningOut: ending.length,
      items: ending.slice(0, listed.invitations).map(({ row, why }) => ({
        id: row.id,
        description: row.description,
        kind: row.kind,
        uses: row.uses,
        maxUsers: row.max_users,
        expires: iso(row.expires_at),
        why,
      })),
    },
    gate: { ...gate, from: iso(gate.from)!, to: iso(gate.to)! },
    enrolments: { recent: enrolled.length, items: newest },
    mail: {
      queued: mail.queued,
      failing: mail.failing,
      oldestQueued: iso(mail.oldestQueuedAt),
      sentRecently: mail.sentSince,
      failingItems: failing.map((m) => ({
        id: m.id,
        to: m.to,
        subject: m.subject,
        attempts: m.attempts,
        error: m.last_error,
        queued: iso(m.created_at)!,
        nextAttempt: iso(m.next_attempt_at)!,
      })),
    },
  };
}

export const showDashboard = operation({
  name: 'dashboard.show',
  method: 'GET',
  path: '/dashboard',
  tag: 'dashboard',
  summary: `Pending requests, invitations running out, gate decisions per day (${dashboardDays} days), recent enrolments and the mail queue`,
  input: z.object({}),
  output: dashboard,
  run: ({ gh }) => dashboardOf(gh),
});

export const dashboardOps = [showDashboard];
