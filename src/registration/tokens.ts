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

const knownGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'implicit'];

export class RegistrationTokens {
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
      await this.audit.record(trx, { actor, action: 'registration_token.revoked', subject: id });
      return { ...row, revoked_at: row.revoked_at ?? now };
    });
  }

  /** A presented token that can still register a client, or an `invalid_token` refusal saying why not. */
  async check(token: string, db: DbOrTrx = this.db): Promise<RegistrationTokenRow & { parsedTemplate: RegistrationTemplate | null }> {
    const row = token.length <= 200 ? await findRegistrationTokenByHash(db, sha256(token)) : undefined;
    const refuse = (why: string) => new GatehouseError('registration.invalid_token', why);
    if (!row) throw refuse('registration token not found');
    const state = tokenState(row, this.clock.now());
    if (state === 'revoked') throw refuse('this registration token has been revoked');
    if (state === 'expired') throw refuse(`this registration token expired at ${new Date(row.expires_at ?? 0).toISOString()}`); // expired implies an expiry
    if (state === 'used up') throw refuse(usedUp(row));
    return { ...row, parsedTemplate: parseTemplate(row.template) };
  }
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
