/**
 * Signing keys (RS256 and ES256) and cookie keys: made on first start, kept in
 * the database, shared by every instance. `rotate` adds a new key per algorithm;
 * the old one stops signing but stays published in the JWKS until every token it
 * signed has expired, then it is removed.
 */
import { exportJWK, generateKeyPair } from 'jose';
import type { Db } from '../db/knex.ts';
import {
  deleteSigningKeysRetiredBefore, insertCookieKey, insertSigningKey, listCookieKeys, listSigningKeys, retireSigningKeys, type SigningKeyRow,
} from '../db/repos/keys.ts';
import { withTransaction } from '../db/transaction.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../config/schema.ts';
import { parseDurationSeconds } from '../config/duration.ts';
import { randomSecret, newId } from '../lib/secrets.ts';

export const signingAlgorithms = ['RS256', 'ES256'] as const;

export interface KeyInfo {
  kid: string;
  alg: string;
  createdAt: string;
  retiredAt: string | null;
  state: 'active' | 'retired (published)';
}

export type PrivateJwk = Record<string, unknown> & { kid: string; alg: string; use: 'sig' };

async function newSigningKey(alg: string, now: number): Promise<SigningKeyRow> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const kid = newId();
  const jwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, private_jwk: JSON.stringify(jwk), created_at: now, retired_at: null };
}

export class Keys {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** How long a retired key stays published: the longest lifetime of anything it signed. */
    private readonly retiredKeyTtlMs: number,
  ) {}

  /** Makes whatever keys are missing (first start); safe to run on every start and from several instances. */
  async ensure(): Promise<void> {
    const existing = await listSigningKeys(this.db);
    const cookies = await listCookieKeys(this.db);
    const missing = signingAlgorithms.filter((alg) => !existing.some((k) => k.alg === alg && k.retired_at === null));
    if (missing.length === 0 && cookies.length > 0) return;
    const made = await Promise.all(missing.map((alg) => newSigningKey(alg, this.clock.now())));
    await withTransaction(this.db, async (trx) => {
      const again = await listSigningKeys(trx);
      for (const row of made) {
        if (!again.some((k) => k.alg === row.alg && k.retired_at === null)) await insertSigningKey(trx, row);
      }
      if ((await listCookieKeys(trx)).length === 0) await insertCookieKey(trx, randomSecret(32), this.clock.now());
    });
  }

  async rotate(): Promise<KeyInfo[]> {
    const now = this.clock.now();
    const made = await Promise.all(signingAlgorithms.map((alg) => newSigningKey(alg, now)));
    await withTransaction(this.db, async (trx) => {
      for (const row of made) {
        await retireSigningKeys(trx, row.alg, now);
        await insertSigningKey(trx, row);
      }
      await deleteSigningKeysRetiredBefore(trx, now - this.retiredKeyTtlMs);
    });
    return made.map((row) => this.info(row));
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.published()).map((row) => this.info(row));
  }

  /** Private JWKs in the order oidc-provider should use them: the active key of each algorithm first. */
  async jwks(): Promise<{ keys: PrivateJwk[] }> {
    const rows = await this.published();
    const ordered = [...rows.filter((r) => r.retired_at === null), ...rows.filter((r) => r.retired_at !== null)];
    return { keys: ordered.map((r) => JSON.parse(r.private_jwk) as PrivateJwk) };
  }

  cookieKeys(): Promise<string[]> {
    return listCookieKeys(this.db);
  }

  private async published(): Promise<SigningKeyRow[]> {
    const cutoff = this.clock.now() - this.retiredKeyTtlMs;
    return (await listSigningKeys(this.db)).filter((r) => r.retired_at === null || r.retired_at >= cutoff);
  }

  private info(row: SigningKeyRow): KeyInfo {
    return {
      kid: row.kid,
      alg: row.alg,
      createdAt: new Date(row.created_at).toISOString(),
      retiredAt: row.retired_at ? new Date(row.retired_at).toISOString() : null,
      state: row.retired_at ? 'retired (published)' : 'active',
    };
  }
}

/** The longest lifetime of anything signed with a key: how long a retired key stays published. */
export function longestSignedLifetimeMs(config: Config): number {
  return Math.max(...(['accessToken', 'idToken', 'refreshToken', 'clientCredentials'] as const).map((k) => parseDurationSeconds(config.ttl[k]))) * 1000;
}
