/**
 * "For my review" (GET /review): an approver's pending join and access
 * requests for their clients only (admins: every client), with who asks, for
 * which app, their message, how long ago, and the approvals counted where the
 * client asks for a quorum; Approve (optionally for 7, 30 or 90 days) and Deny
 * (with an optional note for the person) one click each; and who holds access
 * to those clients, with "End access" per person through the confirmation
 * page.
 *
 * The decisions are JoinRequests.decide, the same as the mailed links
 * (approving here makes the mail's links answer "already decided by …"), with
 * the person's address as the approver: checked on the server (an approver of
 * one client deciding another's request is a 403), counted towards a quorum.
 * Only a verified address counts. Anyone else gets a plain 403 page.
 */
import type { Context } from 'koa';
import type { Gatehouse } from '../../context.ts';
import { GatehouseError } from '../../errors.ts';
import { accessHolders, type ReviewScope } from '../../gating/join-requests.ts';
import { flashNotice, personOf, type SiteSection } from '../site.ts';

/** Approve's "Access lasts" choices: form value → days (none = no end). */
export const accessChoices: readonly { value: string; label: string; days: number | null }[] = [
  { value: '', label: 'No end', days: null },
  { value: '7d', label: '7 days', days: 7 },
  { value: '30d', label: '30 days', days: 30 },
  { value: '90d', label: '90 days', days: 90 },
];

const day = 86_400_000;

/** `2026-12-01 10:20 UTC`. */
const when = (ms: number): string => {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
};

/** How long ago, in words: "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function ageText(ms: number, now: number): string {
  const minutes = Math.floor(Math.max(0, now - ms) / 60_000);
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (minutes < 1) return 'just now';
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return plural(hours, 'hour');
  return plural(Math.floor(hours / 24), 'day');
}

/** The person's address if it is verified (only then does it make them an approver or an admin). */
async function reviewerEmail(gh: Gatehouse, ctx: Context): Promise<string | null> {
  const user = await gh.users.find(personOf(ctx).userId);
  return user?.email && user.email_verified ? user.email : null;
}

/** Whose requests the person decides; a plain 403 when nobody's. */
async function scopeOf(gh: Gatehouse, ctx: Context): Promise<{ email: string; scope: ReviewScope }> {
  const email = await reviewerEmail(gh, ctx);
  const scope = await gh.joinRequests.reviewScope(email);
  if (!email || (!scope.admin && scope.clients.length === 0)) {
    throw new GatehouseError('forbidden', 'This page is for the approvers of an app and for administrators: you do not decide requests for any app.');
  }
  return { email, scope };
}

const field = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

export const reviewPages: SiteSection = (router, { gh, page, form }) => {
  const base = new URL(gh.config.issuer).pathname.replace(/\/$/, '');
  const back = (ctx: Context, notice: string) => {
    flashNotice(ctx, notice);
    ctx.status = 303;
    ctx.redirect(`${base}/review`);
  };

  router.get('/review', async (ctx) => {
    let scope: ReviewScope;
    try {
      ({ scope } = await scopeOf(gh, ctx));
    } catch (err) {
      // The page itself answers 403 inside the people's layout (the way back to their own pages).
      if (err instanceof GatehouseError && err.code === 'forbidden') return page(ctx, 'review', 'review', { forbidden: true, message: err.message }, 403);
      throw err;
    }
    const now = gh.clock.now();
    const names = new Map(scope.clients.map((c) => [c.clientId, c.name ?? c.clientId]));
    const ids = scope.clients.map((c) => c.clientId);
    const email = (await reviewerEmail(gh, ctx))!.toLowerCase();
    const requests = (await gh.joinRequests.pendingFor(ids)).map((r) => ({
      id: r.id,
      kind: r.kind,
      name: r.name,
      email: r.email,
      clientId: r.client_id,
      clientName: names.get(r.client_id) ?? r.client_id,
      message: r.message,
      asked: new Date(r.created_at).toISOString(),
      askedWhen: when(r.created_at),
      age: ageText(r.created_at, now),
      approvals: r.approvals,
      approvedByMe: r.approvals.by.includes(email),
    }));
    const gated = gh.gate.mode !== 'open';
    const holders = gated
      ? (await accessHolders(gh.db, gh.clock, ids)).map((h) => ({
          userId: h.user_id,
          email: h.email,
          name: h.name,
          clientId: h.client_id,
          clientName: names.get(h.client_id) ?? h.client_id,
          ends: h.expires_at === null ? null : when(h.expires_at),
          endsAt: h.expires_at === null ? null : new Date(h.expires_at).toISOString(),
          endLink: `${base}/review/access/${encodeURIComponent(h.client_id)}/${encodeURIComponent(h.user_id)}/end`,
        }))
      : [];
    page(ctx, 'review', 'review', {
      title: 'For my review',
      admin: scope.admin,
      clients: scope.clients.map((c) => ({ id: c.clientId, name: c.name ?? c.clientId, approvals: c.approvals })),
      requests,
      holders,
      gated,
      accessChoices,
    });
  });

  router.post('/review/requests/:id/approve', ...form, async (ctx) => {
    const { email } = await scopeOf(gh, ctx);
    const chosen = accessChoices.find((c) => c.value === field(ctx, 'for'));
    if (!chosen) throw new GatehouseError('input.invalid', 'Choose how long the access lasts: no end, 7, 30 or 90 days.', { field: 'for' });
    const accessEndsAt = chosen.days === null ? null : gh.clock.now() + chosen.days * day;
    try {
      const done = await gh.joinRequests.decide(String(ctx.params.id), 'approve', personOf(ctx).actor, email, { accessEndsAt });
      const who = done.name ?? done.email;
      if (done.status === 'pending') {
        back(
          ctx,
          done.countedBefore
            ? `Your approval was already counted: ${done.approvals.n} of ${done.approvals.of}.`
            : `Your approval is counted: ${done.approvals.n} of ${done.approvals.of}. ${who} gets in once ${done.approvals.of} approvers have approved.`,
        );
      } else {
        back(ctx, `Approved: ${who} can now use the app${chosen.days === null ? '' : ` for ${chosen.days} days`}. We sent them an e-mail.`);
      }
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'join_request.already_decided') return back(ctx, err.message);
      throw err;
    }
  });

  router.post('/review/requests/:id/deny', ...form, async (ctx) => {
    const { email } = await scopeOf(gh, ctx);
    try {
      const done = await gh.joinRequests.decide(String(ctx.params.id), 'deny', personOf(ctx).actor, email, { note: field(ctx, 'note') });
      back(ctx, `Denied: we sent ${done.name ?? done.email} a polite refusal.`);
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'join_request.already_decided') return back(ctx, err.message);
      throw err;
    }
  });

  /** The holder of access to a client the person decides for (403 for another client, 404 for someone without access). */
  async function holderOf(ctx: Context) {
    const { email } = await scopeOf(gh, ctx);
    const clientId = String(ctx.params.clientId);
    const userId = String(ctx.params.userId);
    await gh.joinRequests.assertApproverOf(clientId, email);
    const [holder] = (await accessHolders(gh.db, gh.clock, [clientId])).filter((h) => h.user_id === userId);
    if (!holder) throw new GatehouseError('not_found', 'This person has no access to this app (any more).');
    return { holder, clientName: await gh.clients.displayName(clientId) };
  }

  router.get('/review/access/:clientId/:userId/end', async (ctx) => {
    const { holder, clientName } = await holderOf(ctx);
    page(ctx, 'confirm', 'review', {
      title: 'End access?',
      message: `${holder.name ?? holder.email ?? holder.user_id}${holder.name && holder.email ? ` (${holder.email})` : ''} will no longer be able to sign in to ${clientName}. Their other apps stay as they are.`,
      action: `${base}/review/access/${encodeURIComponent(holder.client_id)}/${encodeURIComponent(holder.user_id)}/end`,
      button: 'End access',
      cancel: `${base}/review`,
    });
  });

  router.post('/review/access/:clientId/:userId/end', ...form, async (ctx) => {
    const { holder, clientName } = await holderOf(ctx);
    await gh.gate.revokeAccess(holder.user_id, holder.client_id, personOf(ctx).actor);
    back(ctx, `${holder.name ?? holder.email ?? holder.user_id} can no longer use ${clientName}.`);
  });
};
