/**
 * The knex adapter: every oidc-provider model in one table of the Gatehouse
 * database, so a restart or a second instance loses nothing.
 *
 * oidc-provider checks `consumed` and then calls `consume()`, two steps that two
 * parallel requests can both pass. Here `consume` is a conditional UPDATE; the
 * loser gets `invalid_grant`, and for codes (authorization / device) the whole
 * grant is revoked, as RFC 6749 §4.1.2 asks when a code is used twice. Tokens the
 * winner saves afterwards point at a grant that no longer exists, and
 * oidc-provider refuses those at introspection, userinfo and refresh.
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Db } from '../db/knex.ts';
import {
  consumeModel,
  destroyByGrantId,
  destroyModel,
  findClientModel,
  findModel,
  findModelBy,
  findModelState,
  upsertModel,
  type ModelState,
  type OidcModelRow,
} from '../db/repos/oidc-models.ts';
import { withWriteTransaction, type Tx } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { currentRoute } from './internals.ts';
import { asProviderError, reportingOutages } from './unavailable.ts';

const keepWhenExpired = new Set(['DeviceCode']);
const managementRoutes = new Set(['client', 'client_update', 'client_delete']);
const revokeGrantOnLostRace = new Set(['AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest']);
/** Every database call of the adapter: an outage answers 503 `temporarily_unavailable`, not oidc-provider's 500. */
const guarded = <T>(work: () => Promise<T>): Promise<T> => reportingOutages(work)();

/**
 * What the adapter does with one of oidc-provider's stores
 * (registration/registrar.ts `storeWork`), given the store's own write:
 * undefined, write it alone; a function, run it in the same transaction as the
 * write (a GatehouseError from it refuses the store); `'held'`, write nothing
 * now: the caller keeps `write` and runs it in a later store's transaction (a
 * registration's client goes with its registration access token).
 */
export type StoreWork = (
  model: string,
  id: string,
  payload: AdapterPayload,
  write: (tx: Tx) => Promise<void>,
) => ((tx: Tx) => Promise<void>) | 'held' | undefined;

/** A refusal of our own in a store: exposed to oidc-provider as a 400, so it is not its `server_error`; our caller answers it. */
function refusal(err: unknown): unknown {
  if (!(err instanceof GatehouseError) || err.code === 'database.unavailable') return err;
  return new errors.InvalidRequest(err.message, 400, { cause: err });
}

/**
 * A registered client's stored metadata, as text: what the adapter's `find`
 * parses for `Client`, and what ./internals.ts `reuseBuiltClients` builds a
 * client from once. A held (disabled) client does not exist for the protocol,
 * only for its own management (RFC 7592); an expired one not at all.
 */
export function storedClientReader(db: Db, clock: Clock): (id: string) => Promise<string | undefined> {
  return async (id) => {
    let client: Awaited<ReturnType<typeof findClientModel>>;
    try {
      client = await findClientModel(db, id);
    } catch (err) {
      throw asProviderError(err);
    }
    if (!client) return undefined;
    if (client.disabled_at != null && !managementRoutes.has(String(currentRoute()))) return undefined;
    if (client.expires_at !== null && client.expires_at <= clock.now()) return undefined;
    return client.payload;
  };
}

export function adapterFactory(db: Db, clock: Clock, storeWork?: StoreWork): new (name: string) => Adapter {
  const clientText = storedClientReader(db, clock);
  return class KnexAdapter implements Adapter {
    constructor(private readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const grantId = this.name === 'Grant' ? id : payload.grantId;
      const row: OidcModelRow = {
        kind: this.name,
        id,
        payload: JSON.stringify(payload),
        grant_id: grantId ?? null,
        user_code: payload.userCode ?? null,
        // Only sessions are looked up by uid (Session.findByUid); an interaction's uid is its id: indexing it cost a page a write.
        uid: this.name === 'Session' ? (payload.uid ?? null) : null,
        account_id: payload.accountId ?? null,
        expires_at: expiresIn ? clock.now() + expiresIn * 1000 : null,
        consumed_at: null,
      };
      const work = storeWork?.(this.name, id, payload, (tx) => upsertModel(tx, row));
      if (work === 'held') return;
      if (!work) {
        // (guarded inlined on the hot paths: no closure and no extra async frame per store or find.)
        try {
          await upsertModel(db, row);
        } catch (err) {
          throw asProviderError(err);
        }
        return;
      }
      await guarded(async () => {
        try {
          await withWriteTransaction(db, async (tx) => {
            await work(tx);
            await upsertModel(tx, row);
          });
        } catch (err) {
          throw refusal(err);
        }
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') {
        const text = await clientText(id);
        return text === undefined ? undefined : (JSON.parse(text) as AdapterPayload);
      }
      let row: ModelState | undefined;
      try {
        row = await findModelState(db, this.name, id);
      } catch (err) {
        throw asProviderError(err);
      }
      return this.load(row);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.load(await guarded(() => findModelBy(db, this.name, 'user_code', userCode)));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.load(await guarded(() => findModelBy(db, this.name, 'uid', uid)));
    }

    async consume(id: string): Promise<void> {
      if (await guarded(() => consumeModel(db, this.name, id, clock.now()))) return;
      const grantId = (await guarded(() => findModel(db, this.name, id)))?.grant_id;
      if (grantId && revokeGrantOnLostRace.has(this.name)) await guarded(() => destroyByGrantId(db, grantId));
      throw new errors.InvalidGrant(`${this.name === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async destroy(id: string): Promise<void> {
      await guarded(() => destroyModel(db, this.name, id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await guarded(() => destroyByGrantId(db, grantId));
    }

    private load(row: ModelState | undefined): AdapterPayload | undefined {
      if (!row) return undefined;
      // An expired device code is still returned: oidc-provider then answers `expired_token` (RFC 8628 §3.5), not `invalid_grant`.
      if (row.expires_at !== null && row.expires_at <= clock.now() && !keepWhenExpired.has(this.name)) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
    }
  };
}
