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
 */
import type { Audit } from '../audit/audit.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { incrementAclTokenUses, linkUserToAclToken } from '../db/repos/acl-tokens.ts';
import {
  decideJoinRequest,
  findPendingJoinRequest,
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
import type { ClientDirectory } from '../registration/clients.ts';
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

export interface LinkView {
  request: JoinRequestRow;
  link: ApprovalLinkRow;
  clientName: string;
}

/** How an admin approves: `accessEndsAt` time-boxes the access it gives (epoch ms; absent or null = no end). */
export interface DecisionOptions {
  accessEndsAt?: number | null | undefined;
}

interface DecisionClient {
  id: string;
  name: string;
  exists: boolean;
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
    const own = (await this.clients.find(clientId))?.approvers ?? [];
    if (own.length) return own;
    if (this.options.receiver) return [this.options.receiver];
    return this.options.admins;
  }

  async file(input: NewJoinRequest): Promise<JoinRequestRow> {
    const email = input.email.trim().toLowerCase();
    const name = input.name.trim();
    const message = input.message.trim();
    if (!isEmail(email)) throw new GatehouseError('input.invalid', 'Enter a valid e-mail address so we can tell you the answer.');
    if (!name || name.length > 200) throw new GatehouseError('input.invalid', 'Enter your name (200 characters at most).');
    if (message.length > 2000) throw new GatehouseError('input.invalid', 'The message is too long (2000 characters at most).');
    const clientName = await this.clients.displayName(input.clientId);
    const approvers = await this.approversFor(input.clientId);
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
      };
      await insertJoinRequest(trx, request);
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
          subject: `${request.kind === 'join' ? 'Join request' : 'Access request'} for ${clientName} from ${name}`,
          template: 'join-request',
          context: {
            brand: this.options.brand,
            request,
            clientName,
            approveLink: `${this.options.issuer}/approval/${links.approve}`,
            denyLink: `${this.options.issuer}/approval/${links.deny}`,
            expiresDays: Math.round(this.options.linkTtlMs / 86_400_000),
          },
        });
      }
      await this.audit.record(trx, {
        actor: `${input.identity.connectorId}:${input.identity.subject}`,
        action: 'join_request.filed',
        subject: request.id,
        details: { client: input.clientId, kind: request.kind, approvers },
      });
      return request;
    });
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
   * Admin decision (CLI, admin API, console); `approver` is checked against the
   * client's approvers when given. An approval with `accessEndsAt` gives access
   * until then: the personal token's client token expires at that moment, so
   * access ends as for any expired client token (refresh refused, the "No
   * access" page at the next sign-in). Mailed links give access without end.
   */
  async decide(id: string, decision: 'approve' | 'deny', actor: string, approver?: string | undefined, options: DecisionOptions = {}): Promise<JoinRequestRow> {
    const endsAt = options.accessEndsAt ?? null;
    if (endsAt !== null) {
      if (decision !== 'approve') throw new GatehouseError('input.invalid', 'only an approval can set when access ends', { field: 'for' });
      if (!Number.isSafeInteger(endsAt) || endsAt <= this.clock.now())
        throw new GatehouseError('input.invalid', 'the end of access must lie in the future', { field: 'for' });
    }
    // Client lookups (approvers, names, existence) read through this.db: done before the
    // transaction, which on SQLite holds the only connection.
    const request = await this.get(id);
    if (approver) await this.assertApprover(request, approver);
    const client = await this.decisionClient(request);
    return withTransaction(this.db, async (trx) => {
      const current = await findJoinRequest(trx, id);
      if (!current) throw new GatehouseError('not_found', `no join request with id ${id}`);
      return this.transition(trx, current, decision, actor, client, endsAt);
    });
  }

  /** What an approval link's confirmation page shows. Changes nothing (GET and HEAD land here). */
  async viewLink(token: string): Promise<LinkView> {
    const link = await findApprovalLink(this.db, sha256(token));
    const request = link ? await findJoinRequest(this.db, link.join_request_id) : undefined;
    if (!link || !request) throw new GatehouseError('approval_link.invalid', 'This link is not valid. It may have been mistyped.');
    if (endingStatuses.includes(request.status)) throw this.alreadyDecided(request);
    if (link.used_at !== null || link.expires_at <= this.clock.now())
      throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
    return { link, request, clientName: await this.clients.displayName(request.client_id) };
  }

  /** The confirmation page's POST: uses the link once and decides. */
  async actOnLink(token: string): Promise<{ request: JoinRequestRow; clientName: string }> {
    const view = await this.viewLink(token);
    await this.assertApprover(view.request, view.link.approver);
    const client = await this.decisionClient(view.request);
    const request = await withTransaction(this.db, async (trx) => {
      if (!(await useApprovalLink(trx, view.link.token_hash, this.clock.now()))) {
        const now = await findJoinRequest(trx, view.request.id);
        if (now && endingStatuses.includes(now.status)) throw this.alreadyDecided(now);
        throw new GatehouseError('approval_link.invalid', 'This link has expired or has already been used.');
      }
      const current = (await findJoinRequest(trx, view.request.id))!;
      return this.transition(trx, current, view.link.action, view.link.approver, client);
    });
    return { request, clientName: view.clientName };
  }

  private async assertApprover(request: JoinRequestRow, approver: string): Promise<void> {
    const allowed = [...(await this.approversFor(request.client_id)), ...this.options.admins].map((a) => a.toLowerCase());
    if (!allowed.includes(approver.toLowerCase())) {
      throw new GatehouseError('forbidden', `${approver} may not decide requests for ${await this.clients.displayName(request.client_id)}.`);
    }
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
    return { id: request.client_id, name: found?.name ?? request.client_id, exists: found !== undefined };
  }

  private async transition(
    trx: DbOrTrx,
    request: JoinRequestRow,
    decision: 'approve' | 'deny',
    actor: string,
    client: DecisionClient,
    accessEndsAt: number | null = null,
  ): Promise<JoinRequestRow> {
    if (endingStatuses.includes(request.status)) throw this.alreadyDecided(request);
    const now = this.clock.now();
    const status = decision === 'approve' ? 'approved' : 'denied';
    const clientName = client.name;
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
    if (!(await decideJoinRequest(trx, request.id, { status, decided_by: actor, decided_at: now, acl_token_id: aclTokenId }))) {
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
              known: Boolean(request.user_id),
            },
          }
        : {
            to: request.email,
            subject: `Your request for ${clientName}`,
            template: 'refusal',
            context: { brand: this.options.brand, name: request.name, clientName },
          },
    );
    await this.audit.record(trx, {
      actor,
      action: `join_request.${status}`,
      subject: request.id,
      details: { client: request.client_id, aclToken: aclTokenId, ...(accessEndsAt !== null ? { accessEnds: new Date(accessEndsAt).toISOString() } : {}) },
    });
    return { ...request, status, decided_by: actor, decided_at: now, acl_token_id: aclTokenId };
  }
}
