/**
 * The gate: the one decision used at a first login, at every authorization and
 * at every refresh. A user may reach a client when they hold a live ACL token
 * that links a live client token for it (SPEC 3, rule 7). Every decision is
 * audited and counted. Depends on db, identity, audit, lib; no HTTP, no
 * oidc-provider.
 */
import type { Audit } from '../audit/audit.ts';
import type { Config } from '../config/schema.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import type { DbOrTx } from '../db/transaction.ts';
import {
  aclTokensOfUser,
  clientTokensOfAclToken,
  findAclToken,
  findAclTokensByKind,
  incrementAclTokenUses,
  linkUserToAclToken,
  linkUserToAclTokenOnce,
  userAccessList,
  unlinkUserFromAclToken,
  userAccessToClient,
  type AclTokenRow,
} from '../db/repos/acl-tokens.ts';
import { countUsers, findUser, listUserIdps, type UserRow } from '../db/repos/users.ts';
import {
  deletePendingIdentity,
  findApprovedUnredeemed,
  findPendingIdentity,
  markJoinRequestRedeemed,
  upsertPendingIdentity,
} from '../db/repos/join-requests.ts';
import { lockForStartup } from '../db/flavor.ts';
import { withTransaction, withWriteTransaction } from '../db/transaction.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import type { Users } from '../identity/users.ts';
import type { Clock } from '../lib/clock.ts';
import { aclTokenState, clientTokenState, type AclTokens } from './acl-tokens.ts';

export type GateMode = 'open' | 'auto' | 'manual';

/**
 * What the gate counts. The composition root fills it (with prom-client's
 * counters, src/metrics.ts); the domain names the event, not the library.
 */
export interface GateMetrics {
  gateDecided(result: 'allowed' | 'refused', reason: string): void;
}

export interface GateClient {
  id: string;
  name: string;
}

export function gateMode(firstauth: Config['firstauth']): GateMode {
  if (!firstauth.enable || firstauth.mode === 'none') return 'open';
  return firstauth.mode;
}

/**
 * Auto mode's own token. An admin's unlimited invitation (`acl-token create
 * --max-users 0`) is of kind 'global' too, but opens only its own clients and
 * its secret is handed out: it must never be extended to every client.
 */
async function systemGlobalToken(trx: DbOrTx): Promise<AclTokenRow | undefined> {
  return (await findAclTokensByKind(trx, 'global')).find((t) => t.created_by === 'system');
}

export class Gate {
  constructor(
    readonly mode: GateMode,
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly metrics: GateMetrics,
    private readonly users: Users,
    private readonly aclTokens: AclTokens,
  ) {}

  /**
   * Whether a user may use a client now (every authorization, refresh and
   * device-code grant). In auto mode a user not linked to the global token yet
   * (made by an admin, or before auto mode was on) is linked here.
   */
  async hasAccess(userId: string, clientId: string): Promise<boolean> {
    if (this.mode === 'open') return true;
    if ((await userAccessToClient(this.db, userId, clientId, this.clock.now())) !== undefined) return true;
    return this.mode === 'auto' && this.linkUserToGlobalToken(userId, clientId);
  }

  /** The clients a user can reach now; in auto mode that includes the global token's, linked or not yet. */
  async accessList(userId: string): Promise<{ client_id: string; acl_token_id: string; expires_at: number | null }[]> {
    const now = this.clock.now();
    const held = await userAccessList(this.db, userId, now);
    const global = this.mode === 'auto' ? await systemGlobalToken(this.db) : undefined;
    if (!global || global.revoked_at !== null || held.some((a) => a.acl_token_id === global.id)) return held;
    const reached = new Set(held.map((a) => a.client_id));
    const more = (await clientTokensOfAclToken(this.db, global.id))
      .filter((c) => clientTokenState(c, now) === 'active' && !reached.has(c.client_id))
      .map((c) => ({ client_id: c.client_id, acl_token_id: global.id, expires_at: c.expires_at }));
    return [...held, ...more].sort((a, b) => a.client_id.localeCompare(b.client_id));
  }

  /**
   * Auto mode: every user is linked to the global token, however made (first
   * login, `user create`, a user from before auto mode was on). Users not linked
   * yet are linked at the first authorization that needs it, in one
   * transaction and counted like a first login (one use, the link, the audit
   * record). The link row goes in first: of two requests racing for the same
   * user, only the one that inserted it counts the use. A write transaction
   * (see admitFirstLogin): its work awaits nothing but its own statements.
   */
  private async linkUserToGlobalToken(userId: string, clientId: string): Promise<boolean> {
    const actor = `user:${userId}`;
    const linked = await withWriteTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const global = await systemGlobalToken(trx);
      if (!global || global.revoked_at !== null) return false;
      const opens = (await clientTokensOfAclToken(trx, global.id)).some((c) => c.client_id === clientId && clientTokenState(c, now) === 'active');
      const user = await findUser(trx, userId);
      if (!opens || user?.status !== 'active') return false;
      if (!(await linkUserToAclTokenOnce(trx, userId, global.id, now))) return false;
      if (!(await incrementAclTokenUses(trx, global.id, now)))
        throw new GatehouseError('acl_token.revoked', 'The global access token was revoked a moment ago.');
      await this.audit.record(trx, { actor, action: 'gate.allowed', subject: clientId, details: { aclToken: global.id, user: userId, via: 'auto_link' } });
      return true;
    }).catch((err: unknown) => {
      if (isGatehouseError(err, 'acl_token.revoked')) return false;
      throw err;
    });
    if (linked) this.decided('allowed', 'auto_link');
    // A racer may have linked it meanwhile; the access query has the last word.
    return linked || (await userAccessToClient(this.db, userId, clientId, this.clock.now())) !== undefined;
  }

  /**
   * A first login (the identity has no user yet). Open mode creates the user;
   * auto mode links it to the global token; manual mode needs a token (presented,
   * or made for this identity when its join request was approved). One
   * transaction: use counted, user + user_idp + user-token link created.
   * A write transaction (../db/transaction.ts `withWriteTransaction`): on
   * SQLite a savepoint of the group commit, holding the group's connection, so
   * its work awaits nothing but statements on its own tx (metrics and the
   * refusal's audit come after it); on PostgreSQL a knex transaction. Racing
   * first logins of one identity: on SQLite the savepoints take turns (the
   * later one finds the user), on PostgreSQL the later insert's unique
   * violation (`already_exists`) fails it.
   */
  async admitFirstLogin(identity: Identity, client: GateClient, presented?: string): Promise<UserRow> {
    const actor = `${identity.connectorId}:${identity.subject}`;
    try {
      const user = await withWriteTransaction(this.db, async (trx) => {
        const raced = await this.users.findByIdentity(trx, identity);
        if (raced) return this.users.recordLogin(raced, trx);
        if (this.mode === 'open') return this.users.createFromIdentity(trx, identity, actor, { signingIn: true });
        const token = this.mode === 'auto' ? await this.globalToken(trx) : await this.tokenFor(trx, identity, client, presented);
        const user = await this.users.createFromIdentity(trx, identity, actor, { signingIn: true });
        await this.redeem(trx, token, user.id, client, actor);
        return user;
      });
      this.decided('allowed', this.mode === 'manual' ? 'first_login_token' : `first_login_${this.mode}`);
      return user;
    } catch (err) {
      if (isGatehouseError(err)) await this.refused(err, actor, client);
      throw err;
    }
  }

  /** A known user without access to this client presents a token, or was approved for it (a write transaction, as admitFirstLogin). */
  async admitKnownUser(userId: string, client: GateClient, presented?: string): Promise<void> {
    const actor = `user:${userId}`;
    try {
      await withWriteTransaction(this.db, async (trx) => {
        if ((await userAccessToClient(trx, userId, client.id, this.clock.now())) !== undefined) return;
        const user = await findUser(trx, userId);
        if (!user || user.status !== 'active') throw new GatehouseError('auth.user_disabled', 'This account has been disabled. Contact your administrator.');
        const identities = await listUserIdps(trx, userId);
        let token: AclTokenRow | undefined;
        if (presented) token = await this.aclTokens.check(trx, presented, client);
        for (const idp of identities) {
          if (token) break;
          token = await this.approvedToken(trx, { connectorId: idp.connector_id, subject: idp.subject, emailVerified: false }, client);
        }
        if (!token) throw new GatehouseError('access.token_required', `You do not have access to ${client.name} yet.`);
        await this.redeem(trx, token, userId, client, actor);
      });
      this.decided('allowed', 'known_user_token');
    } catch (err) {
      if (isGatehouseError(err)) await this.refused(err, actor, client);
      throw err;
    }
  }

  /** An admin gives an existing invitation to a user (`user create --acl-token-id`), counting one use. */
  async attachToken(trx: DbOrTrx, userId: string, aclTokenId: string, actor: string): Promise<void> {
    const token = await findAclToken(trx, aclTokenId);
    if (!token) throw new GatehouseError('not_found', `no ACL token with id ${aclTokenId}`);
    // Used up is left to redeem's conditional UPDATE, which also catches a racer.
    const state = aclTokenState(token, this.clock.now());
    if (state === 'revoked') throw new GatehouseError('acl_token.revoked', 'This invitation has been revoked.');
    if (state === 'expired') throw new GatehouseError('acl_token.expired', 'This invitation has expired.');
    await this.redeem(trx, token, userId, { id: '*', name: 'any' }, actor);
  }

  /**
   * An admin ends one user's access to one client: every ACL token of theirs
   * that opens it lets go of them. What such a token also gave them at other
   * clients stays theirs, through a personal token (its secret never handed
   * out) linking the same client tokens, so those expiries are kept. Refresh
   * tokens for the client stop at their next use (hasAccess is false).
   * Access through auto mode's global token cannot be taken from one user (the
   * gate would link them again): disable the user instead.
   */
  async revokeAccess(userId: string, clientId: string, actor: string): Promise<{ aclTokens: string[]; keptBy: string | null }> {
    if (this.mode === 'open') throw new GatehouseError('forbidden', 'Gating is off (firstauth): every user reaches every client. Disable the user instead.');
    return withTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      if (!(await findUser(trx, userId))) throw new GatehouseError('not_found', `no user with id ${userId}`);
      const opens = (links: { client_id: string; revoked_at: number | null; expires_at: number | null }[]) =>
        links.some((c) => c.client_id === clientId && clientTokenState(c, now) === 'active');
      const global = this.mode === 'auto' ? await systemGlobalToken(trx) : undefined;
      if (global && global.revoked_at === null && opens(await clientTokensOfAclToken(trx, global.id))) {
        throw new GatehouseError('forbidden', `In auto mode every user reaches ${clientId} through the global token; disable the user instead.`);
      }
      const opening: string[] = [];
      const kept = new Set<string>();
      for (const token of await aclTokensOfUser(trx, userId)) {
        if (token.revoked_at !== null) continue;
        const links = await clientTokensOfAclToken(trx, token.id);
        if (!opens(links)) continue;
        opening.push(token.id);
        for (const c of links) if (c.client_id !== clientId && clientTokenState(c, now) === 'active') kept.add(c.id);
      }
      if (opening.length === 0) throw new GatehouseError('not_found', `user ${userId} has no access to ${clientId}`);
      for (const id of opening) await unlinkUserFromAclToken(trx, userId, id);
      let keptBy: string | null = null;
      if (kept.size > 0) {
        const description = `kept when access to ${clientId} was revoked (from ${opening.join(', ')})`.slice(0, 500);
        const made = await this.aclTokens.create({ maxUsers: 1, clients: [], clientTokenIds: [...kept], kind: 'personal', description }, actor, trx);
        await incrementAclTokenUses(trx, made.row.id, now);
        await linkUserToAclToken(trx, userId, made.row.id, now);
        keptBy = made.row.id;
      }
      await this.audit.record(trx, { actor, action: 'access.revoked', subject: userId, details: { client: clientId, aclTokens: opening, keptBy } });
      return { aclTokens: opening, keptBy };
    });
  }

  /** Keeps an identity that proved who it is but is not let in yet, for the rest of this sign-in. */
  async hold(uid: string, identity: Identity, ttlMs: number): Promise<void> {
    await upsertPendingIdentity(this.db, {
      interaction_uid: uid,
      connector_id: identity.connectorId,
      subject: identity.subject,
      email: identity.email ?? null,
      email_verified: identity.emailVerified,
      name: identity.name ?? null,
      expires_at: this.clock.now() + ttlMs,
    });
  }

  async held(uid: string): Promise<Identity | undefined> {
    const row = await findPendingIdentity(this.db, uid, this.clock.now());
    return (
      row && {
        connectorId: row.connector_id,
        subject: row.subject,
        email: row.email ?? undefined,
        emailVerified: row.email_verified,
        name: row.name ?? undefined,
      }
    );
  }

  async release(uid: string): Promise<void> {
    await deletePendingIdentity(this.db, uid);
  }

  /** Records a refusal seen at authorization or refresh (access lapsed). */
  async recordLapsed(userId: string, clientId: string, where: 'authorization' | 'refresh'): Promise<void> {
    this.decided('refused', `no_access_${where}`);
    await this.audit.record(this.db, { actor: `user:${userId}`, action: 'gate.refused', subject: clientId, details: { reason: 'no_access', where } });
  }

  /**
   * Auto mode, at every start: one global token (max_users 0) linking a client
   * token for every static client; clients added to config since are linked too.
   */
  async ensureGlobalToken(clientIds: string[]): Promise<void> {
    await withTransaction(this.db, async (trx) => {
      // Two instances starting at once would otherwise both see "no token yet" and both make one.
      await lockForStartup(trx);
      let global = await systemGlobalToken(trx);
      if (!global) {
        global = (await this.aclTokens.create({ maxUsers: 0, clients: [], kind: 'global', description: 'auto mode: every static client' }, 'system', trx)).row;
      }
      const linked = new Set((await clientTokensOfAclToken(trx, global.id)).filter((c) => c.revoked_at === null).map((c) => c.client_id));
      for (const clientId of clientIds.filter((id) => !linked.has(id))) {
        const ct = await this.aclTokens.insertClientToken(trx, clientId, null, 'system');
        await this.aclTokens.link(trx, global.id, ct.row.id);
        await this.audit.record(trx, { actor: 'system', action: 'acl_token.client_linked', subject: global.id, details: { client: clientId } });
      }
    });
  }

  /** Auto mode: a client registered later is reachable through the global token like the static ones. */
  async linkToGlobalToken(trx: DbOrTx, clientId: string, actor: string): Promise<void> {
    const global = await systemGlobalToken(trx);
    if (!global) return;
    const ct = await this.aclTokens.insertClientToken(trx, clientId, null, actor);
    await this.aclTokens.link(trx, global.id, ct.row.id);
    await this.audit.record(trx, { actor, action: 'acl_token.client_linked', subject: global.id, details: { client: clientId } });
  }

  /**
   * First start with admins configured and nobody in: a one-time invitation
   * for the first admin, for every static client. Returns the secret to print,
   * or undefined when there is nothing to do.
   */
  async bootstrapInvitation(admins: string[], clientIds: string[]): Promise<string | undefined> {
    if (this.mode !== 'manual' || admins.length === 0 || clientIds.length === 0) return undefined;
    return withTransaction(this.db, async (trx) => {
      await lockForStartup(trx);
      if ((await countUsers(trx)) > 0 || (await findAclTokensByKind(trx, 'bootstrap')).length > 0) return undefined;
      const made = await this.aclTokens.create(
        { maxUsers: 1, clients: clientIds, kind: 'bootstrap', description: `first admin (${admins.join(', ')})` },
        'system',
        trx,
      );
      return made.token;
    });
  }

  private async tokenFor(trx: DbOrTx, identity: Identity, client: GateClient, presented?: string): Promise<AclTokenRow> {
    if (presented) return this.aclTokens.check(trx, presented, client);
    const approved = await this.approvedToken(trx, identity, client);
    if (approved) return approved;
    throw new GatehouseError('access.token_required', `An invitation is needed to use ${client.name}.`);
  }

  /** The personal token made when this identity's join request was approved. */
  private async approvedToken(trx: DbOrTx, identity: Identity, client: GateClient): Promise<AclTokenRow | undefined> {
    for (const request of await findApprovedUnredeemed(trx, identity.connectorId, identity.subject, client.id)) {
      const token = request.acl_token_id ? await findAclToken(trx, request.acl_token_id) : undefined;
      if (token && token.revoked_at === null && (await markJoinRequestRedeemed(trx, request.id, this.clock.now()))) return token;
    }
    return undefined;
  }

  private async redeem(trx: DbOrTx, token: AclTokenRow, userId: string, client: GateClient, actor: string): Promise<void> {
    if (!(await incrementAclTokenUses(trx, token.id, this.clock.now()))) {
      // Lost the race for the last use (or it lapsed a moment ago).
      throw new GatehouseError('acl_token.exhausted', 'This invitation has been used by the maximum number of people.');
    }
    await linkUserToAclToken(trx, userId, token.id, this.clock.now());
    await this.audit.record(trx, { actor, action: 'gate.allowed', subject: client.id, details: { aclToken: token.id, user: userId } });
  }

  private async globalToken(trx: DbOrTx): Promise<AclTokenRow> {
    const global = await systemGlobalToken(trx);
    if (!global) throw new GatehouseError('access.token_required', 'Sign-ups are not open yet: the server has not finished starting. Try again in a moment.');
    return global;
  }

  private decided(result: 'allowed' | 'refused', reason: string): void {
    this.metrics.gateDecided(result, reason);
  }

  private async refused(err: GatehouseError, actor: string, client: GateClient): Promise<void> {
    const reason = err.code.replace(/^[a-z_]+\./, '');
    this.decided('refused', reason);
    await this.audit.record(this.db, { actor, action: 'gate.refused', subject: client.id, details: { reason: err.code } });
  }
}
