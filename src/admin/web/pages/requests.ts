/**
 * The console's requests section (join and access requests): the pending
 * ones first, oldest first, each with who asks, for which client, their
 * message and how long ago; Approve in one click (with an optional end of the
 * access: no end, 1, 7, 30 or 90 days) and Deny through the confirmation
 * page. Below, the decided ones, newest first, with who decided and when.
 * Every decision goes through the join-request operations
 * (../../ops/join-requests.ts) as the signed-in admin, then 303 back here.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { approveJoinRequest, denyJoinRequest, listJoinRequests, showJoinRequest } from '../../ops/join-requests.ts';
import { type ConsoleSection, adminOf, flashNotice, seeOther } from '../console.ts';

/** The "for" choices of the Approve form: value → what the operation is given ('' = no end). */
export const accessChoices = [
  { value: '', label: 'No end' },
  { value: '1d', label: '1 day' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
] as const;

const decidedPerPage = 50;

/** How long ago `iso` was, in plain words ("just now", "5 minutes ago", "3 days ago"). */
export function age(iso: string | null, now: number): string {
  if (!iso) return '';
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const say = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return say(Math.floor(seconds / 60), 'minute');
  if (seconds < 86_400) return say(Math.floor(seconds / 3600), 'hour');
  return say(Math.floor(seconds / 86_400), 'day');
}

export const requestPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const listUrl = `${base}/requests`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const param = (ctx: Context, name: string) => String(ctx.params[name]);
  const field = (ctx: Context, name: string) => {
    const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
    return typeof value === 'string' ? value.trim() : '';
  };

  const see = seeOther;

  /** Client ids → display names, looked up once per page. */
  const namer = () => {
    const names = new Map<string, string>();
    return async (id: string) => {
      if (!names.has(id)) names.set(id, await gh.clients.displayName(id));
      return names.get(id)!;
    };
  };

  /** Runs a decision; a refusal (decided already, unknown request, a bad "for") is told on the page the admin lands on. */
  const decide = async (ctx: Context, run: () => Promise<unknown>, done: string) => {
    try {
      await run();
      flashNotice(ctx, done);
    } catch (err) {
      if (!isGatehouseError(err) || !['not_found', 'forbidden', 'input.invalid', 'join_request.already_decided'].includes(err.code)) throw err;
      flashNotice(ctx, err.message);
    }
    see(ctx, listUrl);
  };

  router.get('/requests', async (ctx) => {
    const now = gh.clock.now();
    const name = namer();
    const all = await invoke(listJoinRequests, ctxOf(ctx), {});
    const pending = await Promise.all(
      all.filter((r) => r.status === 'pending').map(async (r) => ({ ...r, clientName: await name(r.client), age: age(r.created, now) })),
    );
    const decidedAll = all.filter((r) => r.status !== 'pending').sort((a, b) => (b.decided ?? b.created ?? '').localeCompare(a.decided ?? a.created ?? ''));
    const pages = Math.max(1, Math.ceil(decidedAll.length / decidedPerPage));
    const wanted = Number.parseInt(typeof ctx.query.page === 'string' ? ctx.query.page : '1', 10);
    const at = Number.isInteger(wanted) ? Math.min(Math.max(wanted, 1), pages) : 1;
    const decided = [];
    for (const r of decidedAll.slice((at - 1) * decidedPerPage, at * decidedPerPage)) {
      // The end of the access an approval gave is on its invitation: looked up for the approved ones shown.
      const accessEnds = r.status === 'approved' ? (await invoke(showJoinRequest, ctxOf(ctx), { id: r.id })).accessEnds : null;
      decided.push({ ...r, clientName: await name(r.client), age: age(r.decided, now), accessEnds });
    }
    const link = (n: number) => `${listUrl}?page=${n}`;
    page(ctx, 'requests', 'requests', {
      title: 'Requests',
      pending,
      decided,
      decidedTotal: decidedAll.length,
      pageNumber: at,
      pages,
      previous: at > 1 ? link(at - 1) : null,
      next: at < pages ? link(at + 1) : null,
      accessChoices,
    });
  });

  router.post('/requests/:id/approve', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const duration = field(ctx, 'for');
    const choice = accessChoices.find((c) => c.value === duration);
    await decide(
      ctx,
      () => invoke(approveJoinRequest, ctxOf(ctx), duration ? { id, for: duration } : { id }),
      `The request is approved${choice && choice.value ? ` for ${choice.label}` : duration ? ` for ${duration}` : ''}: the requester gets an e-mail.`,
    );
  });

  router.get('/requests/:id/deny', async (ctx) => {
    let request;
    try {
      request = await invoke(showJoinRequest, ctxOf(ctx), { id: param(ctx, 'id') });
    } catch (err) {
      if (isGatehouseError(err, 'not_found') || isGatehouseError(err, 'input.invalid')) return page(ctx, 'not-found', 'requests', {}, 404);
      throw err;
    }
    if (request.status !== 'pending') {
      flashNotice(ctx, `This request has already been decided: it was ${request.status}${request.decidedBy ? ` by ${request.decidedBy}` : ''}.`);
      return see(ctx, listUrl);
    }
    const clientName = await gh.clients.displayName(request.client);
    page(ctx, 'confirm', 'requests', {
      title: 'Deny this request?',
      message: `${request.name ?? request.email} (${request.email}) asked for ${clientName}. They will get a polite refusal by e-mail, and can ask again later.`,
      action: `${listUrl}/${encodeURIComponent(request.id)}/deny`,
      button: 'Deny request',
      cancel: listUrl,
      note: { label: 'A word to the requester (optional, sent in the refusal mail)' },
    });
  });

  router.post('/requests/:id/deny', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const note = (ctx.request.body as Record<string, unknown> | undefined)?.note;
    await decide(
      ctx,
      () => invoke(denyJoinRequest, ctxOf(ctx), { id, ...(typeof note === 'string' && note.trim() ? { note } : {}) }),
      'The request is denied: the requester gets an e-mail.',
    );
  });
};
