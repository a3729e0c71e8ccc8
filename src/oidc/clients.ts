/** Kept for the CLI's imports; the directory lives in registration/clients.ts. */
import type { Config } from '../config/schema.ts';
import type { DbOrTrx } from '../db/knex.ts';
import { ClientDirectory, type ClientSummary } from '../registration/clients.ts';

export type { ClientSummary };

export function listClients(gh: { config: Pick<Config, 'clients'>; db: DbOrTrx }): Promise<ClientSummary[]> {
  return new ClientDirectory(gh.config, gh.db).list();
}
