/**
 * Registration tokens (RFC 7591 initial access tokens, counted): creating them
 * (the secret is returned once and stored only as a hash), listing, revoking,
 * and checking a presented one. Depends on db, audit, lib.
 */
import type { Audit } from '../audit/audit.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { findAclToken } from '../db/repos/acl-tokens.ts';
import {
  findRegistrationToken,
  findRegistrationTokenByHash,
  insertRegistrationToken,
  listRegistrationTokens,
  revokeRegistrationToken,
  type RegistrationTokenRow,
} from '../db/repos/registration.ts';
import { withTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId, randomSecret, sha256 } from '../lib/secrets.ts';
import { parseTemplate, type RegistrationTemplate } from './rules.ts';

export interface NewRegistrationToken {
  count: number;
  expiresAt: number | null;
  description?: string | null;
  template?: RegistrationTemplate | null;
  approval?: boolean;
  aclTokenId?: string | null;
}

/**
 * How long a token's row, once read, answers `check` in this process: a
 * registration's first read, asked by every registration with the same token.
 * It only decides the early refusal; the use itself is taken by a conditional
 * UPDATE in the client's transaction (Registrar.reserveIn), which sees the
 * token as it is now (revoked, expired, used up: refused there with the same
 * words). Rows that name an ACL token are not kept (deleting that ACL token
 * changes them). Revoking through this process forgets the row at once.
 */
const recentMs = 1000;
const maxRecent = 1000;

type CheckedToken = RegistrationTokenRow & { parsedTemplate: RegistrationTemplate | null };

const knownGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'implicit'];

export class RegistrationTokens {
  /** Rows read by `check` lately, by token hash (see `recentMs`). */
  private readonly recent = new Map<string, { row: CheckedToken; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
  ) {}

  async create(input: NewRegistrationToken, actor: string): Promise<{ row: RegistrationTokenRow; token: string }> {
    if (!Number.isInteger(input.count) || input.count < 1) throw new GatehouseError('input.invalid', '--count must be a positive whole number');
    const now = this.clock.now();
    if (input.expiresAt !== null && input.expiresAt <= now) throw new GatehouseError('input.invalid', '--expires must be in the future');
    const template = input.template ?? null;
    for (const grant of template?.grantTypes ?? []) {
      if (!knownGrantTypes.includes(grant))
        throw new GatehouseError('input.invalid', `--grant-types: unknown grant type ${grant} (known: ${knownGrantTypes.join(', ')})`);
    }
    for (const host of template?.redirectHosts ?? []) {
      if (!/^(\*\.)?[a-z0-9.:[\]-]+$/i.test(host)) throw new GatehouseError('input.invalid', `--redirect-host: ${host} is not a host name`);
    }
    const hasTemplate = Boolean(template && (template.grantTypes?.length || template.redirectHosts?.length || template.scope));
    return withTransaction(this.db, async (trx) => {
      if (input.aclTokenId && !(await findAclToken(trx, input.aclTokenId))) throw new GatehouseError('not_found', `no ACL token with id ${input.aclTokenId}`);
      const token = `ghr_${randomSecret(32)}`;
      const row: RegistrationTokenRow = {
        id: newId(),
        token_hash: sha256(token),
        description: input.description ?? null,
        max_clients: input.count,
        uses: 0,
        template: hasTemplate ? JSON.stringify(template) : null,
        approval: Boolean(input.approval),
        acl_token_id: input.aclTokenId ?? null,
        expires_at: input.expiresAt,
        revoked_at: null,
        created_by: actor,
        created_at: now,
      };
      await insertRegistrationToken(trx, row);
      await this.audit.record(trx, {
        actor,
        action: 'registration_token.created',
        subject: row.id,
        details: { count: row.max_clients, template, approval: row.approval, aclTokenId: row.acl_token_id },
      });
      return { row, token };
    });
  }

  list(): Promise<RegistrationTokenRow[]> {
    return listRegistrationTokens(this.db);
  }

  async get(id: string, db: DbOrTrx = this.db): Promise<RegistrationTokenRow> {
    const row = await findRegistrationToken(db, id);
    if (!row) throw new GatehouseError('not_found', `no registration token with id ${id}`);
    return row;
  }

  async revoke(id: string, actor: string): Promise<RegistrationTokenRow> {
    return withTransaction(this.db, async (trx) => {
      const row = await this.get(id, trx);
      const now = this.clock.now();
      await revokeRegistrationToken(trx, id, now);
      this.recent.delete(row.token_hash);
      await this.audit.record(trx, { actor, action: 'registration_token.revoked', subject: id });
      return { ...row, revoked_at: row.revoked_at ?? now };
    });
  }

  /** A presented token that can still register a client, or an `invalid_token` refusal saying why not. */
  async check(token: string, db: DbOrTrx = this.db): Promise<CheckedToken> {
    const now = this.clock.now();
    const tokenHash = token.length <= 200 ? sha256(token) : undefined;
    const kept = tokenHash === undefined ? undefined : this.recent.get(tokenHash);
    let row: CheckedToken | undefined = kept && kept.until > now ? kept.row : undefined;
    if (!row && tokenHash !== undefined) {
      const found = await findRegistrationTokenByHash(db, tokenHash);
      row = found && { ...found, parsedTemplate: parseTemplate(found.template) };
      if (row && row.acl_token_id === null) {
        if (this.recent.size >= maxRecent) this.recent.clear();
        this.recent.set(tokenHash, { row, until: now + recentMs });
      }
    }
    if (!row) throw new GatehouseError('registration.invalid_token', 'registration token not found');
    const refusal = refusalOf(row, now);
    if (refusal) throw refusal;
    return row;
  }
}

/** Why a registration token cannot register a client now (revoked, expired, used up), or undefined when it can. */
export function refusalOf(row: Pick<RegistrationTokenRow, 'revoked_at' | 'expires_at' | 'uses' | 'max_clients'>, now: number): GatehouseError | undefined {
  const refuse = (why: string) => new GatehouseError('registration.invalid_token', why);
  const state = tokenState(row, now);
  if (state === 'revoked') return refuse('this registration token has been revoked');
  if (state === 'expired') return refuse(`this registration token expired at ${new Date(row.expires_at ?? 0).toISOString()}`); // expired implies an expiry
  if (state === 'used up') return refuse(usedUp(row));
  return undefined;
}

export const usedUp = (row: Pick<RegistrationTokenRow, 'max_clients'>) =>
  `this registration token has been used up (${row.max_clients} of ${row.max_clients} clients registered)`;

/** What a registration token can still do: `registration-token list|show` prints it and `check` refuses by it. */
export function tokenState(
  row: Pick<RegistrationTokenRow, 'revoked_at' | 'expires_at' | 'uses' | 'max_clients'>,
  now: number,
): 'active' | 'revoked' | 'expired' | 'used up' {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at <= now) return 'expired';
  if (row.uses >= row.max_clients) return 'used up';
  return 'active';
}
