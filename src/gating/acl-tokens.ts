/**
 * ACL tokens (invitations) and client tokens: creating them (the secret is
 * returned once and stored only as a hash), listing, revoking, and checking a
 * presented token for a client with a plain-words reason when it does not fit.
 * Depends on db, audit, lib.
 */
import type { Audit } from '../audit/audit.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import type { DbOrTx } from '../db/transaction.ts';
import {
  clientTokensOfAclToken,
  findAclToken,
  findAclTokenByHash,
  findClientToken,
  insertAclToken,
  insertClientToken,
  linkAclTokenToClientToken,
  listAclTokens,
  listClientTokens,
  revokeAclToken,
  revokeClientToken,
  usersOfAclToken,
  type AclTokenRow,
  type ClientTokenRow,
} from '../db/repos/acl-tokens.ts';
import { withTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId, randomSecret, sha256 } from '../lib/secrets.ts';

export interface NewAclToken {
  maxUsers: number;
  clients: string[];
  clientTokenIds?: string[];
  clientExpiresAt?: number | null;
  expiresAt?: number | null;
  description?: string | null;
  kind?: AclTokenRow['kind'];
  /** Whoever signs in through it must enroll a second factor (identity/mfa/). */
  requireMfa?: boolean;
}

export interface AclTokenDetails extends AclTokenRow {
  clients: ClientTokenRow[];
  users: string[];
}

/** A secret that is shown once: `<prefix>_<43 base64url chars>` (256 bits). */
const secret = (prefix: string) => `${prefix}_${randomSecret(32)}`;

export class AclTokens {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    /** Client ids that exist (static and registered), to refuse typos. */
    private readonly clientExists: (clientId: string, db: DbOrTrx) => Promise<boolean>,
  ) {}

  async create(input: NewAclToken, actor: string, trx?: DbOrTrx): Promise<{ row: AclTokenRow; token: string; clientTokens: ClientTokenRow[] }> {
    if (!Number.isInteger(input.maxUsers) || input.maxUsers < 0)
      throw new GatehouseError('input.invalid', '--max-users must be 0 (unlimited) or a positive whole number');
    if (input.clients.length === 0 && !input.clientTokenIds?.length && input.kind !== 'global')
      throw new GatehouseError('input.invalid', 'an ACL token needs at least one --client');
    const work = async (db: DbOrTrx) => {
      for (const clientId of input.clients) {
        if (!(await this.clientExists(clientId, db))) throw new GatehouseError('not_found', `no client with id ${clientId}`);
      }
      const now = this.clock.now();
      const token = secret('gha');
      const row: AclTokenRow = {
        id: newId(),
        token_hash: sha256(token),
        description: input.description ?? null,
        max_users: input.maxUsers,
        uses: 0,
        kind: input.kind ?? (input.maxUsers === 1 ? 'personal' : input.maxUsers === 0 ? 'global' : 'invitation'),
        expires_at: input.expiresAt ?? null,
        revoked_at: null,
        created_by: actor,
        created_at: now,
        ...(input.requireMfa ? { require_mfa: true } : {}),
      };
      await insertAclToken(db, row);
      const clientTokens: ClientTokenRow[] = [];
      for (const clientId of input.clients) {
        const ct = await this.insertClientToken(db, clientId, input.clientExpiresAt ?? null, actor);
        await linkAclTokenToClientToken(db, row.id, ct.row.id);
        clientTokens.push(ct.row);
      }
      for (const id of input.clientTokenIds ?? []) {
        const ct = await findClientToken(db, id);
        if (!ct) throw new GatehouseError('not_found', `no client token with id ${id}`);
        await linkAclTokenToClientToken(db, row.id, ct.id);
        clientTokens.push(ct);
      }
      await this.audit.record(db, {
        actor,
        action: 'acl_token.created',
        subject: row.id,
        details: { maxUsers: row.max_users, clients: clientTokens.map((c) => c.client_id), kind: row.kind, ...(input.requireMfa ? { requireMfa: true } : {}) },
      });
      return { row, token, clientTokens };
    };
    return trx ? work(trx) : withTransaction(this.db, work);
  }

  async createClientToken(clientId: string, expiresAt: number | null, actor: string): Promise<{ row: ClientTokenRow; token: string }> {
    return withTransaction(this.db, async (trx) => {
      if (!(await this.clientExists(clientId, trx))) throw new GatehouseError('not_found', `no client with id ${clientId}`);
      const made = await this.insertClientToken(trx, clientId, expiresAt, actor);
      await this.audit.record(trx, { actor, action: 'client_token.created', subject: made.row.id, details: { client: clientId } });
      return made;
    });
  }

  /** Links an existing client token (e.g. a new static client in auto mode). */
  async link(db: DbOrTx, aclTokenId: string, clientTokenId: string): Promise<void> {
    await linkAclTokenToClientToken(db, aclTokenId, clientTokenId);
  }

  async insertClientToken(db: DbOrTx, clientId: string, expiresAt: number | null, actor: string): Promise<{ row: ClientTokenRow; token: string }> {
    const token = secret('ghc');
    const row: ClientTokenRow = {
      id: newId(),
      token_hash: sha256(token),
      client_id: clientId,
      expires_at: expiresAt,
      revoked_at: null,
      created_by: actor,
      created_at: this.clock.now(),
    };
    await insertClientToken(db, row);
    return { row, token };
  }

  list(): Promise<AclTokenRow[]> {
    return listAclTokens(this.db);
  }

  listClientTokens(): Promise<ClientTokenRow[]> {
    return listClientTokens(this.db);
  }

  async get(id: string): Promise<AclTokenDetails> {
    const row = await findAclToken(this.db, id);
    if (!row) throw new GatehouseError('not_found', `no ACL token with id ${id}`);
    return { ...row, clients: await clientTokensOfAclToken(this.db, id), users: await usersOfAclToken(this.db, id) };
  }

  async revoke(id: string, actor: string): Promise<AclTokenRow> {
    return withTransaction(this.db, async (trx) => {
      const row = await findAclToken(trx, id);
      if (!row) throw new GatehouseError('not_found', `no ACL token with id ${id}`);
      const now = this.clock.now();
      await revokeAclToken(trx, id, now);
      await this.audit.record(trx, { actor, action: 'acl_token.revoked', subject: id });
      return { ...row, revoked_at: row.revoked_at ?? now };
    });
  }

  async revokeClientToken(id: string, actor: string): Promise<ClientTokenRow> {
    return withTransaction(this.db, async (trx) => {
      const row = await findClientToken(trx, id);
      if (!row) throw new GatehouseError('not_found', `no client token with id ${id}`);
      const now = this.clock.now();
      await revokeClientToken(trx, id, now);
      await this.audit.record(trx, { actor, action: 'client_token.revoked', subject: id, details: { client: row.client_id } });
      return { ...row, revoked_at: row.revoked_at ?? now };
    });
  }

  /**
   * Checks a presented invitation for one client, without using it. The messages
   * are the ones people see (SPEC 3, rule 11).
   */
  async check(db: DbOrTx, token: string, client: { id: string; name: string } | undefined): Promise<AclTokenRow> {
    const row = token.length <= 200 ? await findAclTokenByHash(db, sha256(token.trim())) : undefined;
    const now = this.clock.now();
    if (!row) throw new GatehouseError('acl_token.not_found', 'This invitation was not found. Check that you copied the whole link or code.');
    const state = aclTokenState(row, now);
    if (state === 'revoked') throw new GatehouseError('acl_token.revoked', 'This invitation has been revoked.');
    if (state === 'expired') throw new GatehouseError('acl_token.expired', 'This invitation has expired.');
    if (state === 'used up') throw new GatehouseError('acl_token.exhausted', 'This invitation has been used by the maximum number of people.');
    if (client) {
      const live = (await clientTokensOfAclToken(db, row.id)).filter((c) => c.client_id === client.id && clientTokenState(c, now) === 'active');
      if (live.length === 0) throw new GatehouseError('acl_token.wrong_client', `This invitation does not give access to ${client.name}.`);
    }
    return row;
  }
}

/**
 * What an invitation can still do, in the words `acl-token list|show` prints.
 * A revoked token reads as revoked even after it expired; `max_users` 0 means
 * no limit. The redemption itself still counts by a conditional UPDATE.
 */
export function aclTokenState(
  row: Pick<AclTokenRow, 'revoked_at' | 'expires_at' | 'max_users' | 'uses'>,
  now: number,
): 'active' | 'revoked' | 'expired' | 'used up' {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at <= now) return 'expired';
  if (row.max_users > 0 && row.uses >= row.max_users) return 'used up';
  return 'active';
}

/** A client token opens its client while it is neither revoked nor expired (no expiry = for good). */
export function clientTokenState(row: Pick<ClientTokenRow, 'revoked_at' | 'expires_at'>, now: number): 'active' | 'revoked' | 'expired' {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at <= now) return 'expired';
  return 'active';
}
