/**
 * Every client Gatehouse knows: static ones from config.yaml and registered ones
 * stored through the oidc-provider adapter. Used by gating (names, approvers,
 * existence) and by the CLI. Depends on config and db only.
 */
import type { Config } from '../config/schema.ts';
import type { DbOrTrx } from '../db/knex.ts';
import { findModel, listModels } from '../db/repos/oidc-models.ts';
import {
  approversOfRecord,
  findRegisteredClient,
  listRegisteredClients as listRegisteredRecords,
  registeredClientRequiresMfa,
  type RegisteredClientRow,
} from '../db/repos/registration.ts';

export interface ClientSummary {
  clientId: string;
  name: string | null;
  source: 'static' | 'registered';
  grantTypes: string[];
  redirectUris: string[];
  /** Who decides its join/access requests: config.yaml's `approvers` (static) or `client set-approvers` (registered); empty = the global approvers. */
  approvers: string[];
  /** Registered clients can be held: `disabled (policy|approval|admin)`. */
  state: string;
  /** Why a registered client is held (the reason in `state`), or null. */
  heldReason: RegisteredClientRow['disabled_reason'];
  /** The registration token a registered client was made with. */
  registrationTokenId: string | null;
  /** Listed to people at `/account/browse` to ask for: config.yaml's `discoverable` (static) or `client set-discoverable` (registered). */
  discoverable: boolean;
  /** A second factor at every sign-in to it: config.yaml's `requireMfa` (static) or `client set-require-mfa` (registered). */
  requireMfa: boolean;
  /** Quorum: how many different approvers must approve a request (config.yaml's `approvals`; registered clients: 1). */
  approvals: number;
  /** Metadata without secrets. */
  metadata: Record<string, unknown>;
}

const hidden = new Set(['client_secret', 'registration_access_token']);

/** Gatehouse's own keys on a static client (config.yaml), which are not oidc-provider client metadata. */
export type StaticClient = Config['clients'][number];

/** A static client's metadata without Gatehouse's own keys (`approvers`, `discoverable`, `approvals`, `requireMfa`). */
export function staticMetadata({
  approvers: _approvers,
  discoverable: _discoverable,
  approvals: _approvals,
  requireMfa: _requireMfa,
  ...metadata
}: StaticClient): Record<string, unknown> {
  return metadata;
}

function summarizeStatic(client: StaticClient): ClientSummary {
  return {
    ...summarize(staticMetadata(client), 'static', client.approvers),
    discoverable: client.discoverable,
    requireMfa: client.requireMfa,
    approvals: client.approvals,
  };
}

function summarize(metadata: Record<string, unknown>, source: ClientSummary['source'], approvers: string[], record?: RegisteredClientRow): ClientSummary {
  const visible = Object.fromEntries(Object.entries(metadata).filter(([k]) => !hidden.has(k)));
  return {
    clientId: String(metadata.client_id),
    name: typeof metadata.client_name === 'string' ? metadata.client_name : null,
    source,
    grantTypes: Array.isArray(metadata.grant_types) ? (metadata.grant_types as string[]) : ['authorization_code'],
    redirectUris: Array.isArray(metadata.redirect_uris) ? (metadata.redirect_uris as string[]) : [],
    approvers,
    state: record?.disabled_reason ? `disabled (${record.disabled_reason})` : 'enabled',
    heldReason: record?.disabled_reason ?? null,
    registrationTokenId: record?.registration_token_id ?? null,
    discoverable: Boolean(record?.discoverable),
    requireMfa: Boolean(record?.require_mfa),
    approvals: 1,
    metadata: visible,
  };
}

const webUrl = (value: unknown): URL | undefined => {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Where a person opens a client (My apps, the invitation page, the approval
 * mail): its `initiate_login_uri` with `iss` (OpenID Connect Core §4,
 * third-party-initiated login), else its `client_uri`, else the origin of its
 * first redirect URI; only http(s) addresses. Null when it names nowhere.
 */
export function openUrl(client: Pick<ClientSummary, 'metadata' | 'redirectUris'>, issuer: string): string | null {
  const initiate = webUrl(client.metadata.initiate_login_uri);
  if (initiate) {
    initiate.searchParams.set('iss', issuer);
    return initiate.href;
  }
  const home = webUrl(client.metadata.client_uri);
  if (home) return home.href;
  const redirect = webUrl(client.redirectUris[0]);
  return redirect ? `${redirect.origin}/` : null;
}

export class ClientDirectory {
  constructor(
    private readonly config: Pick<Config, 'clients'>,
    private readonly db: DbOrTrx,
  ) {}

  staticIds(): string[] {
    return this.config.clients.map((c) => c.client_id);
  }

  async list(): Promise<ClientSummary[]> {
    const fromConfig = this.config.clients.map(summarizeStatic);
    const records = new Map((await listRegisteredRecords(this.db)).map((r) => [r.client_id, r]));
    const registered = (await listModels(this.db, 'Client')).map((row) =>
      summarize(JSON.parse(row.payload) as Record<string, unknown>, 'registered', approversOfRecord(records.get(row.id)), records.get(row.id)),
    );
    return [...fromConfig, ...registered];
  }

  /** `db` lets a caller inside a transaction look up without a second connection (SQLite has one). */
  async find(clientId: string, db: DbOrTrx = this.db): Promise<ClientSummary | undefined> {
    const fixed = this.config.clients.find((c) => c.client_id === clientId);
    if (fixed) return summarizeStatic(fixed);
    const row = await findModel(db, 'Client', clientId);
    if (!row) return undefined;
    const record = await findRegisteredClient(db, clientId);
    return summarize(JSON.parse(row.payload) as Record<string, unknown>, 'registered', approversOfRecord(record), record);
  }

  /**
   * Whether signing in to this client takes a second factor (the `mfa` prompt
   * asks at every authorization): a static client's `requireMfa` from memory,
   * else one read of the registered client's record by its id.
   */
  async requiresMfa(clientId: string, db: DbOrTrx = this.db): Promise<boolean> {
    const fixed = this.config.clients.find((c) => c.client_id === clientId);
    if (fixed) return fixed.requireMfa;
    return registeredClientRequiresMfa(db, clientId);
  }

  async exists(clientId: string, db: DbOrTrx = this.db): Promise<boolean> {
    return (await this.find(clientId, db)) !== undefined;
  }

  async displayName(clientId: string): Promise<string> {
    return (await this.find(clientId))?.name ?? clientId;
  }
}
