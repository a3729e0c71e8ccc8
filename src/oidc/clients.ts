/** Every client the provider knows: static ones from config and registered ones from the adapter's table. */
import type { Gatehouse } from '../context.ts';
import { listModels } from '../db/repos/oidc-models.ts';

export interface ClientSummary {
  clientId: string;
  name: string | null;
  source: 'static' | 'registered';
  grantTypes: string[];
  redirectUris: string[];
  approvers: string[];
  /** Metadata without secrets. */
  metadata: Record<string, unknown>;
}

const hidden = new Set(['client_secret', 'registration_access_token']);

function summarize(metadata: Record<string, unknown>, source: ClientSummary['source'], approvers: string[]): ClientSummary {
  const visible = Object.fromEntries(Object.entries(metadata).filter(([k]) => !hidden.has(k)));
  return {
    clientId: String(metadata.client_id),
    name: typeof metadata.client_name === 'string' ? metadata.client_name : null,
    source,
    grantTypes: Array.isArray(metadata.grant_types) ? (metadata.grant_types as string[]) : ['authorization_code'],
    redirectUris: Array.isArray(metadata.redirect_uris) ? (metadata.redirect_uris as string[]) : [],
    approvers,
    metadata: visible,
  };
}

export async function listClients(gh: Pick<Gatehouse, 'config' | 'db'>): Promise<ClientSummary[]> {
  const fromConfig = gh.config.clients.map(({ approvers, ...metadata }) => summarize(metadata, 'static', approvers));
  const registered = (await listModels(gh.db, 'Client')).map((row) => summarize(JSON.parse(row.payload) as Record<string, unknown>, 'registered', []));
  return [...fromConfig, ...registered];
}
