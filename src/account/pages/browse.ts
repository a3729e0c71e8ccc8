/**
 * "Other apps" and "My requests" (issue 13, SPEC 9 `clients[].discoverable`).
 *
 * `/account/browse` lists the clients an admin made discoverable (static ones
 * in config.yaml, registered ones through the console, API or CLI) that the
 * person cannot use yet, each with the state of the last request made for it
 * and an "Ask for access" form: the gate page's access request for a known
 * user (JoinRequests.file), rate-limited per person like the gate page's
 * forms. Asking again while a request is pending is refused with a plain
 * message, never a second request.
 *
 * `/account/requests` lists the person's join and access requests, newest
 * first: the client, when they asked, the decision, who took it and, for an
 * approval, when the access it gave ends.
 */
import type { Context } from 'koa';
import { parseDurationSeconds } from '../../config/duration.ts';
import type { Gatehouse } from '../../context.ts';
import { listJoinRequestsOfUser, type JoinRequestRow } from '../../db/repos/join-requests.ts';
import { isGatehouseError } from '../../errors.ts';
import { Limiter } from '../../lib/limiter-store.ts';
import type { ClientSummary } from '../../registration/clients.ts';
import { joinRequestDetailsView } from '../../admin/ops/join-requests.ts';
import { dateText, personOf, type Person, type SiteDeps, type SiteSection } from '../site.ts';

/** Who decided, in words for the person who asked: an approver's address, an admin's, or "an administrator" for keys and the CLI. */
export function deciderOf(decidedBy: string | null): string | null {
  if (!decidedBy) return null;
  if (decidedBy.startsWith('admin:')) return decidedBy.slice('admin:'.length);
  if (/^(key|cli|user|system):/.test(decidedBy) || decidedBy === 'system') return 'an administrator';
  return decidedBy;
}

/** What the person sees of one request. */
export interface RequestLine {
  id: string;
  kind: JoinRequestRow['kind'];
  status: JoinRequestRow['status'];
  client: string;
  clientName: string;
  message: string | null;
  asked: string;
  askedText: string;
  decided: string | null;
  decidedText: string | null;
  decidedBy: string | null;
  /** The note the approver gave with the decision (`/review`), or null. */
  note: string | null;
  /** For an approval: when the access it gave ends (ISO), or null for no end. */
  accessEnds: string | null;
  accessEndsText: string | null;
  /** For an approval: whether that access has ended by now. */
  accessEnded: boolean;
}

/** A discoverable client the person cannot use, with their last request for it. */
export interface OtherApp {
  id: string;
  name: string;
  description: string | null;
  website: string | null;
  last: RequestLine | null;
  /** A request for it waits for a decision: no second one. */
  pending: boolean;
}

const webUrl = (value: unknown): string | null => (typeof value === 'string' && /^https?:\/\//i.test(value) ? value : null);

async function requestLine(gh: Gatehouse, request: JoinRequestRow, names: Map<string, string>): Promise<RequestLine> {
  const details = await joinRequestDetailsView(gh, request);
  const endsAt = details.accessEnds ? Date.parse(details.accessEnds) : null;
  return {
    id: request.id,
    kind: request.kind,
    status: request.status,
    client: request.client_id,
    clientName: names.get(request.client_id) ?? request.client_id,
    message: request.message,
    asked: new Date(request.created_at).toISOString(),
    askedText: dateText(request.created_at),
    decided: request.decided_at === null ? null : new Date(request.decided_at).toISOString(),
    decidedText: request.decided_at === null ? null : dateText(request.decided_at),
    decidedBy: deciderOf(request.decided_by),
    note: request.decision_note ?? null,
    accessEnds: request.status === 'approved' ? details.accessEnds : null,
    accessEndsText: request.status === 'approved' && endsAt !== null ? dateText(endsAt) : null,
    accessEnded: request.status === 'approved' && endsAt !== null && endsAt <= gh.clock.now(),
  };
}

/** The person's requests, newest first. */
export async function requestsOf(gh: Gatehouse, userId: string): Promise<RequestLine[]> {
  const rows = await listJoinRequestsOfUser(gh.db, userId);
  const names = new Map((await gh.clients.list()).map((c) => [c.clientId, c.name ?? c.clientId]));
  return Promise.all(rows.map((r) => requestLine(gh, r, names)));
}

/** Clients that may be listed at all: discoverable and enabled (a held client signs nobody in). */
const listable = (c: ClientSummary) => c.discoverable && c.state === 'enabled';

/** The discoverable clients the person cannot use now (none with gating off: everyone may use every client). */
export async function otherAppsOf(gh: Gatehouse, userId: string): Promise<OtherApp[]> {
  if (gh.gate.mode === 'open') return [];
  // accessList rather than hasAccess per client: the same answer, without linking an auto-mode user to the global token.
  const usable = new Set((await gh.gate.accessList(userId)).map((a) => a.client_id));
  const clients = (await gh.clients.list()).filter((c) => listable(c) && !usable.has(c.clientId));
  if (clients.length === 0) return [];
  const requests = await requestsOf(gh, userId);
  return clients
    .map((c) => {
      const last = requests.find((r) => r.client === c.clientId) ?? null;
      return {
        id: c.clientId,
        name: c.name ?? c.clientId,
        description: typeof c.metadata.description === 'string' ? c.metadata.description : null,
        website: webUrl(c.metadata.client_uri),
        last,
        pending: requests.some((r) => r.client === c.clientId && r.status === 'pending'),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** Why an ask cannot be filed, in plain words with its HTTP status; null when it can. */
async function refusal(gh: Gatehouse, person: Person, clientId: string): Promise<{ status: number; message: string } | null> {
  const client = await gh.clients.find(clientId);
  if (!client || !listable(client)) return { status: 404, message: 'There is no app to ask for at this address.' };
  const name = client.name ?? client.clientId;
  if (gh.gate.mode === 'open' || (await gh.gate.accessList(person.userId)).some((a) => a.client_id === clientId)) {
    return { status: 409, message: `You can already use ${name}.` };
  }
  const pending = (await listJoinRequestsOfUser(gh.db, person.userId)).find((r) => r.client_id === clientId && r.status === 'pending');
  if (pending) {
    return {
      status: 409,
      message: `You already asked for access to ${name} on ${dateText(pending.created_at)}. Your request is waiting for a decision: you will get an e-mail with the answer.`,
    };
  }
  return null;
}

export const browsePages: SiteSection = (router, deps: SiteDeps) => {
  const { gh, page, form } = deps;
  const base = new URL(gh.config.issuer).pathname.replace(/\/$/, '');
  const browseUrl = `${base}/account/browse`;
  const { max, window } = gh.config.security.rateLimits.gate;
  // Asks per person, with the gate page's budget (security.rateLimits.gate).
  const asks = new Limiter(gh.limiterStore, 'account.ask', max, parseDurationSeconds(window) * 1000);

  const showBrowse = async (ctx: Context, vars: { error?: string; message?: string; failedClient?: string } = {}, status = 200) => {
    const apps = await otherAppsOf(gh, personOf(ctx).userId);
    // An error about a listed app is shown in its card (with the message kept), any other at the top.
    const errorInline = vars.failedClient !== undefined && apps.some((a) => a.id === vars.failedClient);
    page(ctx, 'browse', 'browse', { title: 'Other apps', apps, gatingOff: gh.gate.mode === 'open', errorInline, ...vars }, status);
  };

  router.get('/account/browse', async (ctx) => showBrowse(ctx));

  router.post('/account/browse/:client/ask', ...form, async (ctx) => {
    const person = personOf(ctx);
    const clientId = String(ctx.params.client);
    const raw = (ctx.request.body as Record<string, unknown> | undefined)?.message;
    const message = typeof raw === 'string' ? raw : '';
    if (!(await asks.hit(person.userId)).allowed) {
      return showBrowse(ctx, { error: 'You have asked too often. Wait a few minutes and try again.', message, failedClient: clientId }, 429);
    }
    const refused = await refusal(gh, person, clientId);
    if (refused) return showBrowse(ctx, { error: refused.message, message, failedClient: clientId }, refused.status);
    const user = await gh.users.get(person.userId);
    const identity = user.identities[0];
    if (!user.email || !identity) {
      return showBrowse(
        ctx,
        { error: 'Your account has no e-mail address for the answer. Ask an administrator for access instead.', message, failedClient: clientId },
        400,
      );
    }
    let filed: JoinRequestRow;
    try {
      filed = await gh.joinRequests.file({
        identity: { connectorId: identity.connector_id, subject: identity.subject, emailVerified: user.email_verified },
        userId: user.id,
        clientId,
        email: user.email,
        name: user.name?.trim() || user.email,
        message,
      });
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      return showBrowse(ctx, { error: err.message, message, failedClient: clientId }, 400);
    }
    const notice = ctx.state.accountNotice as ((text: string) => void) | undefined;
    const name = await gh.clients.displayName(clientId);
    notice?.(`Your request for ${name} is sent to the people who approve access. You will get an e-mail at ${filed.email} with the answer.`);
    ctx.status = 303;
    ctx.redirect(browseUrl);
  });

  router.get('/account/requests', async (ctx) => {
    const person = personOf(ctx);
    const requests = await requestsOf(gh, person.userId);
    page(ctx, 'requests', 'requests', {
      title: 'My requests',
      pending: requests.filter((r) => r.status === 'pending'),
      decided: requests.filter((r) => r.status !== 'pending'),
    });
  });
};
