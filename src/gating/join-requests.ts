/**
 * Join requests: someone without a token asks to join (or a known user asks for
 * another client); approvers decide from a mailed link or the CLI.
 *
 * Status machine: pending → approved | denied | expired; the final states are
 * in `endingStatuses` and no transition leaves them. Each decision is one
 * transaction: conditional status change (the loser of an approve/deny race
 * gets `already_decided`), the personal ACL token, the audit row and the mail.
 * Approval links are single-use, expire, are stored as hashes, and only a POST
 * uses them: mail scanners that open links change nothing.
 *
 * Quorum (`clients[].approvals: N`): a request is approved when N different
 * approvers have approved it; one deny decides. Each approval is a row of
 * `join_request_approval` (unique per request and approver: the same approver
 * twice counts once), counted under the request's row lock, so concurrent
 * approvers take turns and exactly one of them completes the quorum (audited
 * `join_request.approval_counted` with n of N, then `join_request.approved`).
 * An admin's approval decides outright (the console, the admin API, the CLI,
 * and an approver whose address is in `admins`): admins are the override.
 */
import type { Audit } from '../audit/audit.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { incrementAclTokenUses, linkUserToAclToken } from '../db/repos/acl-tokens.ts';
import {
  decideJoinRequest,
  findPendingJoinRequest,
  insertJoinRequestApproval,
  listAccessHolders,
  listJoinRequestApprovals,
  listPendingJoinRequestsFor,
  lockJoinRequest,
  type AccessHolderRow,
  findApprovalLink,
  findJoinRequest,
  insertApprovalLink,
  insertJoinRequest,
  listJoinRequests,
  markJoinRequestRedeemed,
  useApprovalLink,
  type ApprovalLinkRow,
  type JoinRequestRow,
  type JoinRequestStatus,
} from '../db/repos/join-requests.ts';
import { withTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { Clock } from '../lib/clock.ts';
import { isEmail } from '../lib/email.ts';
import { newId, randomSecret, sha256 } from '../lib/secrets.ts';
import type { MailOutbox } from '../mail/outbox.ts';
import { openUrl, type ClientDirectory, type ClientSummary } from '../registration/clients.ts';
import type { AclTokens } from './acl-tokens.ts';

export const endingStatuses: readonly JoinRequestStatus[] = Object.freeze(['approved', 'denied', 'expired']);

export interface JoinRequestOptions {
  issuer: string;
  brand: string;
  /** firstauth.mailer.receiver: the fallback approver. */
  receiver?: string | undefined;
  admins: string[];
  linkTtlMs: number;
}

export interface NewJoinRequest {
  identity: Identity;
  userId?: string | undefined;
  clientId: string;
  email: string;
  name: string;
  message: string;
}

/** Approvals counted for a request: `n` of the `of` its client needs, by whom (lower-cased addresses, oldest first). */
export interface ApprovalCount {
  n: number;
  of: number;
  by: string[];
}

/** A request with the approvals counted for it (quorum). */
export interface CountedRequest extends JoinRequestRow {
  approvals: ApprovalCount;
}

/** What a decision did: the request as it is now; `status` still `pending` when an approval was counted short of the quorum. */
export interface DecidedRequest extends CountedRequest {
  /** The approver's approval had been counted before: the same approver twice counts once. */
  countedBefore: boolean;
}

/** Whose requests a person decides (`/review`): every client for an admin, else the clients they approve for. */
export interface ReviewScope {
  admin: boolean;
  clients: ClientSummary[];
}

export interface LinkView {
  request: CountedRequest;
  link: ApprovalLinkRow;
  clientName: string;
}

/**
 * `accessEndsAt` time-boxes the access an approval gives (epoch ms; absent or null = no end); under quorum
 * the approval that completes it sets the end. `note` is told to the person with the decision (1000 characters at most).
 */
export interface DecisionOptions {
  accessEndsAt?: number | null | undefined;
  note?: string | null | undefined;
}

interface DecisionClient {
  id: string;
  name: string;
  exists: boolean;
  /** Approvals the client needs (`clients[].approvals`). */
  approvals: number;
  /** Who decides its requests (approversFor). */
  approvers: string[];
  /** Where the app opens (registration/clients.ts openUrl), for the approval mail; null when unknown. */
  openUrl: string | null;
}

/** How a decision is taken: by whom it is recorded, and whose approval it counts (null: decides outright). */
interface DecisionBy {
  actor: string;
  decidedBy: string;
  countAs: string | null;
  accessEndsAt: number | null;
  note: string | null;
}

export class JoinRequests {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly outbox: MailOutbox,
    private readonly aclTokens: AclTokens,
    private readonly clients: ClientDirectory,
    private readonly options: JoinRequestOptions,
  ) {}

  /** Who decides requests for a client: its approvers, else the receiver, else the admins. */
  async approversFor(clientId: string): Promise<string[]> {
    return this.approversOf(await this.clients.find(clientId));
  }

  private approversOf(client: ClientSummary | undefined): string[] {
    const own = client?.approvers ?? [];
    if (own.length) return own;
    if (this.options.receiver) return [this.options.receiver];
    return this.options.admins;
  }

  /** Whether an address is one of config.yaml's `admins` (their approval decides outright). */
  isAdmin(email: string | null | undefined): boolean {
    const wanted = email?.toLowerCase();
    return wanted !== undefined && this.options.admins.some((a) => a.toLowerCase() === wanted);
  }

  /** The clients whose requests this address decides (`/review`): all for an admin; none without an address. */
  async reviewScope(email: string | null): Promise<ReviewScope> {
    const clients = await this.clients.list();
    if (this.isAdmin(email)) return { admin: true, clients };
    const wanted = email?.toLowerCase();
    if (!wanted) return { admin: false, clients: [] };
    return { admin: false, clients: clients.filter((c) => this.approversOf(c).some((a) => a.toLowerCase() === wanted)) };
  }

  /** Refuses (403) an address that may not decide for this client. */
  async assertApproverOf(clientId: string, approver: string): Promise<void> {
    const allowed = [...(await this.approversFor(clientId)), ...this.options.admins].map((a) => a.toLowerCase());
    if (!allowed.includes(approver.toLowerCase())) {
      throw new GatehouseError('forbidden', `${approver} may not decide requests for ${await this.clients.displayName(clientId)}.`);
    }
  }

  /** Pending requests for these clients, oldest first, with the approvals counted so far. */
  async pendingFor(clientIds: string[]): Promise<CountedRequest[]> {
    const requests = await listPendingJoinRequestsFor(this.db, clientIds);
    return this.withApprovals(this.db, requests);
  }

  private async withApprovals(db: DbOrTrx, requests: JoinRequestRow[]): Promise<CountedRequest[]> {
    const approvals = await listJoinRequestApprovals(
      db,
      requests.map((r) => r.id),
    );
    const needed = new Map<string, number>();
    for (const r of requests) if (!needed.has(r.client_id)) needed.set(r.client_id, (await this.clients.find(r.client_id, db))?.approvals ?? 1);
    return requests.map((r) => {
      const by = approvals.filter((a) => a.join_request_id === r.id).map((a) => a.approver);
      return { ...r, approvals: { n: by.length, of: needed.get(r.client_id) ?? 1, by } };
    });
  }

  async file(input: NewJoinRequest): Promise<JoinRequestRow> {
    const email = input.email.trim().toLowerCase();
    const name = input.name.trim();
    const message = input.message.trim();
    if (!isEmail(email)) throw new GatehouseError('input.invalid', 'Enter a valid e-mail address so we can tell you the answer.');
    if (!name || name.length > 200) throw new GatehouseError('input.invalid', 'Enter your name (200 characters at most).');
    if (message.length > 2000) throw new GatehouseError('input.invalid', 'The message is too long (2000 characters at most).');
    const found = await this.clients.find(input.clientId);
    const clientName = found?.name ?? input.clientId;
    const approvers = this.approversOf(found);
    const needed = found?.approvals ?? 1;
    return withTransaction(this.db, async (trx) => {
      // Asking twice mails the approvers once: the pending request stands.
      const existing = await findPendingJoinRequest(trx, input.identity.connectorId, input.identity.subject, input.clientId);
      if (existing) return existing;
      const now = this.clock.now();
      const request: JoinRequestRow = {
        id: newId(),
        kind: input.userId ? 'access' : 'join',
        connector_id: input.identity.connectorId,
        subject: input.identity.subject,
        user_id: input.userId ?? null,
        email,
        name,
        message: message || null,
        client_id: input.clientId,
        status: 'pending',
        decided_by: null,
        decided_at: null,
        acl_token_id: null,
        redeemed_at: null,
        created_at: now,
        decision_note: null,
      };
      await insertJoinRequest(trx, request);
      await this.mailApprovers(trx, request, clientName, approvers, { n: 0, of: needed, by: [] });
      await this.audit.record(trx, {
        actor: `${input.identity.connectorId}:${input.identity.subject}`,
        action: 'join_request.filed',
        subject: request.id,
        details: { client: input.clientId, kind: request.kind, approvers },
      });
      return request;
    });
  }

  /** Mails each approver the request with their own single-use Approve and Deny links (and the count under quorum). */
  private async mailApprovers(trx: DbOrTrx, request: JoinRequestRow, clientName: string, approvers: string[], approvals: ApprovalCount): Promise<void> {
    const now = this.clock.now();
    const what = request.kind === 'join' ? 'Join request' : 'Access request';
    for (const approver of approvers) {
      const links: Record<'approve' | 'deny', string> = { approve: randomSecret(32), deny: randomSecret(32) };
      for (const action of ['approve', 'deny'] as const) {
        await insertApprovalLink(trx, {
          token_hash: sha256(links[action]),
          join_request_id: request.id,
          action,
          approver,
          expires_at: now + this.options.linkTtlMs,
          used_at: null,
        });
      }
      await this.outbox.enqueue(trx, {
        to: approver,
        subject: `${what} for ${clientName} from ${request.name ?? request.email}${approvals.n > 0 ? `: ${approvals.n} of ${approvals.of} approvals` : ''}`,
        template: 'join-request',
        context: {
          brand: this.options.brand,
          request,
          clientName,
          approvals,
          approveLink: `${this.options.issuer}/approval/${links.approve}`,
          denyLink: `${this.options.issuer}/approval/${links.deny}`,
          reviewLink: `${this.options.issuer}/review`,
          expiresDays: Math.round(this.options.linkTtlMs / 86_400_000),
        },
      });
    }
  }

  list(status?: JoinRequestStatus): Promise<JoinRequestRow[]> {
    return listJoinRequests(this.db, status);
  }

  async get(id: string): Promise<JoinRequestRow> {
    const request = await findJoinRequest(this.db, id);
    if (!request) throw new GatehouseError('not_found', `no join request with id ${id}`);
    return request;
  }

  /**
   * A decision from the CLI, the admin API, the console (no `approver`: an
   * admin, decides outright) or `/review` (`approver` = the signed-in person's
   * address, checked against the client's approvers; recorded as `decided_by`;
   * counted towards the quorum unless an admin). An approval with
   * `accessEndsAt` gives access until then: the personal token's client token
   * expires at that moment, so access ends as for any expired client token
   * (refresh refused, the "No access" page at the next sign-in). Mailed links
   * give access without end.
   */
  async decide(id: string, decision: 'approve' | 'deny', actor: string, approver?: string | undefined, options: DecisionOptions = {}): Promise<DecidedRequest> {
    const endsAt = options.accessEndsAt ?? null;
    if (endsAt !== null) {
      if (decision !== 'approve') throw new GatehouseError('input.invalid', 'only an approval can set when access ends', { field: 'for' });
      if (!Number.isSafeInteger(endsAt) || endsAt <= this.clock.now())
        throw new GatehouseError('input.invalid', 'the end of access must lie in the future', { field: 'for' });
    }
    const note = options.note?.trim() || null;
    if (note !== null && note.length > 1000) throw new GatehouseError('input.invalid', 'The note is too long (1000 characters at most).', { field: 'note' });
    // Client lookups (approvers, names, existence) read through this.db: done before the
    // transaction, which on SQLite holds the only connection.
    const request = await this.get(id);
    if (approver) await this.assertApprover(request, approver);
    const client = await this.decisionClient(request);
    const by: DecisionBy = {
      actor,
      decidedBy: approver ?? actor,
      countAs: approver && !this.isAdmin(approver) ? approver : null,
      accessEndsAt: endsAt,
      note,
    };
    return withTransaction(this.db, async (trx) => this.transition(trx, id, decision, by, client));
  }

  /** What an approval link's confirmation page shows. Changes nothing (GET and HEAD land here). */
  async viewLink(token: string): Promise<LinkView> {
    const link = await findApprovalLink(this.db, sha256(token));
    const request = link ? await findJoinRequest(this.db, link.join_request_id) : undefined;
    if (!link || !request) throw new GatehouseError('approval_link.invalid', 'This link is not valid. It may have been mistyped.');
    if (endingStatuses.includes(request.status)) throw this.alreadyDecided(request);
    if (link.used_at !== null || link.expires_at <= this.clock.now())
      throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
    const [counted] = await this.withApprovals(this.db, [request]);
    return { link, request: counted!, clientName: await this.clients.displayName(request.client_id) };
  }

  /** The confirmation page's POST: uses the link once and decides. */
  async actOnLink(token: string): Promise<{ request: DecidedRequest; clientName: string }> {
    const view = await this.viewLink(token);
    await this.assertApprover(view.request, view.link.approver);
    const client = await this.decisionClient(view.request);
    const request = await withTransaction(this.db, async (trx) => {
      if (!(await useApprovalLink(trx, view.link.token_hash, this.clock.now()))) {
        const now = await findJoinRequest(trx, view.request.id);
        if (now && endingStatuses.includes(now.status)) throw this.alreadyDecided(now);
        throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
      }
      const approver = view.link.approver;
      const by: DecisionBy = { actor: approver, decidedBy: approver, countAs: this.isAdmin(approver) ? null : approver, accessEndsAt: null, note: null };
      return this.transition(trx, view.request.id, view.link.action, by, client);
    });
    return { request, clientName: view.clientName };
  }

  private assertApprover(request: JoinRequestRow, approver: string): Promise<void> {
    return this.assertApproverOf(request.client_id, approver);
  }

  private alreadyDecided(request: JoinRequestRow): GatehouseError {
    return new GatehouseError(
      'join_request.already_decided',
      `This request has already been decided: it was ${request.status}${request.decided_by ? ` by ${request.decided_by}` : ''}.`,
    );
  }

  /** The client a decision is about, looked up outside the decision's transaction. */
  private async decisionClient(request: JoinRequestRow): Promise<DecisionClient> {
    const found = await this.clients.find(request.client_id);
    return {
      id: request.client_id,
      name: found?.name ?? request.client_id,
      exists: found !== undefined,
      approvals: found?.approvals ?? 1,
      approvers: this.approversOf(found),
      openUrl: found ? openUrl(found, this.options.issuer) : null,
    };
  }

  /**
   * Decides under the request's row lock: deciders of one request take turns,
   * so the approvals counted here stay counted until the decision is made.
   */
  private async transition(trx: DbOrTrx, id: string, decision: 'approve' | 'deny', by: DecisionBy, client: DecisionClient): Promise<DecidedRequest> {
    await lockJoinRequest(trx, id);
    const request = await findJoinRequest(trx, id);
    if (!request) throw new GatehouseError('not_found', `no join request with id ${id}`);
    if (endingStatuses.includes(request.status)) throw this.alreadyDecided(request);
    const { actor, accessEndsAt } = by;
    const now = this.clock.now();
    const status: JoinRequestStatus = decision === 'approve' ? 'approved' : 'denied';
    const clientName = client.name;
    const counted = (await listJoinRequestApprovals(trx, [id])).map((a) => a.approver);
    let countedBefore = false;
    if (decision === 'approve' && by.countAs !== null && client.approvals > 1) {
      const approver = by.countAs.toLowerCase();
      countedBefore = counted.includes(approver);
      if (!countedBefore) {
        await insertJoinRequestApproval(trx, { join_request_id: id, approver, decided_at: now });
        counted.push(approver);
        await this.audit.record(trx, {
          actor,
          action: 'join_request.approval_counted',
          subject: id,
          details: { client: request.client_id, approver, n: counted.length, of: client.approvals },
        });
      }
      const approvals: ApprovalCount = { n: counted.length, of: client.approvals, by: counted };
      if (counted.length < client.approvals) {
        if (!countedBefore) {
          // The approvers still to decide hear how far it got, with fresh links.
          const waiting = client.approvers.filter((a) => !counted.includes(a.toLowerCase()) && !this.isAdmin(a));
          await this.mailApprovers(trx, request, clientName, waiting, approvals);
        }
        return { ...request, approvals, countedBefore };
      }
    }
    let aclTokenId: string | null = null;
    let invitation: string | undefined;
    if (decision === 'approve') {
      // The client token is made here, in this transaction: AclTokens.create's existence check
      // for `clients` reads through its own connection (checked above, in decisionClient).
      if (!client.exists) throw new GatehouseError('not_found', `no client with id ${client.id}`);
      const clientToken = await this.aclTokens.insertClientToken(trx, client.id, accessEndsAt, actor);
      const made = await this.aclTokens.create(
        {
          maxUsers: 1,
          clients: [],
          clientTokenIds: [clientToken.row.id],
          kind: 'personal',
          description: `approved ${request.kind} request ${request.id} (${request.email})`,
        },
        actor,
        trx,
      );
      aclTokenId = made.row.id;
      invitation = made.token;
    }
    const decided = { status, decided_by: by.decidedBy, decided_at: now, acl_token_id: aclTokenId, decision_note: by.note };
    if (!(await decideJoinRequest(trx, request.id, decided))) {
      throw this.alreadyDecided((await findJoinRequest(trx, request.id)) ?? request);
    }
    if (aclTokenId && request.user_id) {
      // A known user: access is added now, nothing else about the user changes.
      await incrementAclTokenUses(trx, aclTokenId, now);
      await linkUserToAclToken(trx, request.user_id, aclTokenId, now);
      await markJoinRequestRedeemed(trx, request.id, now);
    }
    await this.outbox.enqueue(
      trx,
      decision === 'approve'
        ? {
            to: request.email,
            subject: `You can now use ${clientName}`,
            template: 'invitation',
            context: {
              brand: this.options.brand,
              name: request.name,
              clientName,
              link: `${this.options.issuer}/invite/${invitation}`,
              openUrl: client.openUrl,
              known: Boolean(request.user_id),
            },
          }
        : {
            to: request.email,
            subject: `Your request for ${clientName}`,
            template: 'refusal',
            context: { brand: this.options.brand, name: request.name, clientName, note: by.note },
          },
    );
    await this.audit.record(trx, {
      actor,
      action: `join_request.${status}`,
      subject: request.id,
      details: {
        client: request.client_id,
        aclToken: aclTokenId,
        ...(by.decidedBy !== actor ? { approver: by.decidedBy } : {}),
        ...(client.approvals > 1 ? { approvals: { n: counted.length, of: client.approvals, by: counted } } : {}),
        ...(accessEndsAt !== null ? { accessEnds: new Date(accessEndsAt).toISOString() } : {}),
        ...(by.note !== null ? { note: by.note } : {}),
      },
    });
    return { ...request, ...decided, approvals: { n: counted.length, of: client.approvals, by: counted }, countedBefore };
  }
}

/** Who holds live access to these clients now (`/review`: "who holds access"), one row per person and client. */
export function accessHolders(db: DbOrTrx, clock: Clock, clientIds: string[]): Promise<AccessHolderRow[]> {
  return listAccessHolders(db, clientIds, clock.now());
}
