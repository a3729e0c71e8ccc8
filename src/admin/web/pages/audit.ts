/**
 * The console's audit log: every gating decision and admin action, newest
 * first, 100 to a page, with a filter form (GET: actor, action or a family
 * such as `client.*`, subject, client, a time range in UTC). Each entry links
 * to its subject where the console has a page for it (users, invitations,
 * clients), to its actor when that is a user, and to its client. Read through the audit operation
 * (../../ops/audit.ts).
 */
import type { Context } from 'koa';
import { clientSubjectPrefixes } from '../../../audit/audit.ts';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { listAudit } from '../../ops/audit.ts';
import { adminOf, type ConsoleSection } from '../console.ts';
import { one, refusal, when } from './registration-tokens.ts';

export const auditPageSize = 100;

const filterFields = ['actor', 'action', 'subject', 'client', 'from', 'to'] as const;
type Filter = Record<(typeof filterFields)[number], string>;

const fieldLabels: Record<string, string> = { actor: 'Actor', action: 'Action', subject: 'Subject', client: 'Client', from: 'From', to: 'To' };

/**
 * A time from the form as the operation's ISO instant: a browser's
 * `datetime-local` (`2026-12-01T10:30`) or a date alone is read as UTC; a full
 * ISO instant passes as it is (a wrong one is refused by the operation).
 */
export function instantOf(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return `${value}:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value)) return `${value}Z`;
  return value;
}

/** The console page about an entry's subject, if there is one. */
function subjectUrl(base: string, action: string, subject: string | null, clients: ReadonlySet<string>): string | undefined {
  if (!subject) return undefined;
  const id = encodeURIComponent(subject);
  // user.*, admin.* (console sign-ins) and access.* (access revoked) name a user.
  if (['user.', 'admin.', 'access.'].some((p) => action.startsWith(p))) return `${base}/users/${id}`;
  if (action.startsWith('acl_token.')) return `${base}/invitations/${id}`;
  // Only a client that exists has a page (a gate entry about `*`, any client, has none).
  if (clientSubjectPrefixes.some((p) => action.startsWith(p)) && clients.has(subject)) return `${base}/clients/${id}`;
  return undefined;
}

/** Numbers above this are epoch milliseconds (after 2001-09-09). */
const epochMsFloor = 1e12;

/** One value of an entry's details as short text: instants (`…At` keys, epoch milliseconds) as UTC dates, objects as compact JSON. */
function detailValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'number' && Number.isFinite(value) && (value > epochMsFloor || (/At$/.test(key) && value > 0))) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return when(date.toISOString());
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** An entry's details as a short list of key: value (empty when there are none). */
export function detailItems(details: unknown): { key: string; value: string }[] {
  if (details === null || details === undefined) return [];
  if (typeof details !== 'object' || Array.isArray(details)) return [{ key: 'details', value: JSON.stringify(details) }];
  return Object.entries(details as Record<string, unknown>).map(([key, value]) => ({ key, value: detailValue(key, value) }));
}

/** `user:<id>` actors are people with a page. */
function actorUrl(base: string, actor: string): string | undefined {
  return actor.startsWith('user:') ? `${base}/users/${encodeURIComponent(actor.slice(5))}` : undefined;
}

export const auditPages: ConsoleSection = (router, { gh, page }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });

  router.get('/audit', async (ctx) => {
    const filter = Object.fromEntries(filterFields.map((f) => [f, one(ctx.query[f]).slice(0, 400)])) as Filter;
    const pageNumber = /^\d{1,6}$/.test(one(ctx.query.page)) ? Math.max(1, Number(one(ctx.query.page))) : 1;
    const input = Object.fromEntries(
      filterFields.filter((f) => filter[f] !== '').map((f) => [f, f === 'from' || f === 'to' ? instantOf(filter[f]) : filter[f]]),
    );
    let entries;
    try {
      entries = await invoke(listAudit, ctxOf(ctx), input);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'audit', 'audit', { title: 'Audit log', filter, entries: [], error: refusal(err, fieldLabels) }, 400);
      return;
    }
    const start = (pageNumber - 1) * auditPageSize;
    const shown = entries.slice(start, start + auditPageSize);
    const clients = new Set((await gh.clients.list()).map((c) => c.clientId));
    const query = (n: number) =>
      new URLSearchParams([...filterFields.filter((f) => filter[f] !== '').map((f) => [f, filter[f]] as [string, string]), ['page', String(n)]]).toString();
    page(ctx, 'audit', 'audit', {
      title: 'Audit log',
      filter,
      filtered: Object.keys(input).length > 0,
      total: entries.length,
      first: shown.length ? start + 1 : 0,
      last: start + shown.length,
      newer: pageNumber > 1 ? `${base}/audit?${query(pageNumber - 1)}` : undefined,
      older: start + auditPageSize < entries.length ? `${base}/audit?${query(pageNumber + 1)}` : undefined,
      entries: shown.map((e) => ({
        ...e,
        timeText: when(e.time),
        subjectUrl: subjectUrl(base, e.action, e.subject, clients),
        actorUrl: actorUrl(base, e.actor),
        clientUrl: e.client && clients.has(e.client) ? `${base}/clients/${encodeURIComponent(e.client)}` : undefined,
        detailItems: detailItems(e.details),
      })),
    });
  });
};
