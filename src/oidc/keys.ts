/**
 * Signing keys (RS256 and ES256) and cookie keys: made on first start, kept in
 * the database, shared by every instance. `rotate` adds a new key per algorithm;
 * the old one stops signing but stays published in the JWKS until every token it
 * signed has expired, then it is removed. `revoke` removes one key at once (a
 * leaked one). Running servers follow the database (./key-refresh.ts).
 */
import { exportJWK, generateKeyPair } from 'jose';
import type { Db } from '../db/knex.ts';
import {
  deleteSigningKey,
  deleteSigningKeysRetiredBefore,
  insertCookieKey,
  insertSigningKey,
  listCookieKeys,
  listSigningKeyStates,
  listSigningKeys,
  lockSigningKeys,
  retireSigningKeys,
  type SigningKeyRow,
} from '../db/repos/keys.ts';
import { withTransaction } from '../db/transaction.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
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

  /**
   * Removes a published key at once: it leaves the JWKS, so nothing it signed
   * verifies any more, and it signs nothing more. An algorithm's last active key
   * cannot go (tokens of that algorithm could not be signed): rotate first.
   */
  async revoke(kid: string): Promise<KeyInfo> {
    return withTransaction(this.db, async (trx) => {
      const unknown = () => new GatehouseError('not_found', `No published signing key has the kid "${kid}" (see gatehouse keys list).`);
      const found = (await listSigningKeys(trx)).find((r) => r.kid === kid);
      if (!found || !this.isPublished(found)) throw unknown();
      await lockSigningKeys(trx, found.alg);
      // Read again under the lock: a revocation that committed meanwhile counts.
      const sameAlg = (await listSigningKeys(trx)).filter((r) => r.alg === found.alg);
      const row = sameAlg.find((r) => r.kid === kid);
      if (!row) throw unknown();
      if (row.retired_at === null && !sameAlg.some((r) => r.kid !== kid && r.retired_at === null)) {
        throw new GatehouseError(
          'signing_key.last_active',
          `${kid} is the only active ${row.alg} key, so nothing could sign ${row.alg} tokens without it. Run "gatehouse keys rotate" first, then revoke it.`,
        );
      }
      await deleteSigningKey(trx, kid);
      return this.info(row);
    });
  }

  /**
   * What a running server compares to learn that the published keys changed
   * (a rotation, a revocation, a retired key aging out): one small query
   * without the private keys.
   */
  async version(): Promise<string> {
    return versionOf((await listSigningKeyStates(this.db)).filter((r) => this.isPublished(r)));
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.published()).map((row) => this.info(row));
  }

  /** Private JWKs in the order oidc-provider should use them: the active key of each algorithm first. */
  async jwks(): Promise<{ keys: PrivateJwk[] }> {
    return (await this.keySet()).jwks;
  }

  /** The JWKS and its `version()`, from one read. */
  async keySet(): Promise<{ version: string; jwks: { keys: PrivateJwk[] } }> {
    const rows = await this.published();
    const ordered = [...rows.filter((r) => r.retired_at === null), ...rows.filter((r) => r.retired_at !== null)];
    return { version: versionOf(rows), jwks: { keys: ordered.map((r) => JSON.parse(r.private_jwk) as PrivateJwk) } };
  }

  cookieKeys(): Promise<string[]> {
    return listCookieKeys(this.db);
  }

  private async published(): Promise<SigningKeyRow[]> {
    return (await listSigningKeys(this.db)).filter((r) => this.isPublished(r));
  }

  private isPublished(row: Pick<SigningKeyRow, 'retired_at'>): boolean {
    return row.retired_at === null || row.retired_at >= this.clock.now() - this.retiredKeyTtlMs;
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

function versionOf(rows: Pick<SigningKeyRow, 'kid' | 'retired_at'>[]): string {
  return rows.map((r) => `${r.kid}:${r.retired_at === null ? 'active' : 'retired'}`).join(',');
}

/** The longest lifetime of anything signed with a key: how long a retired key stays published. */
export function longestSignedLifetimeMs(config: Config): number {
  return Math.max(...(['accessToken', 'idToken', 'refreshToken', 'clientCredentials'] as const).map((k) => parseDurationSeconds(config.ttl[k]))) * 1000;
}
