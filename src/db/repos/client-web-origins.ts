/**
 * The registered clients that listed web origins (Keycloak `webOrigins`,
 * stored in the client's oidc-provider payload as `web_origins`): the realm's
 * session iframe may be framed by them. Held (disabled) clients are left out.
 */
import type { DbOrTrx } from '../knex.ts';

export async function clientPayloadsWithWebOrigins(db: DbOrTrx): Promise<string[]> {
  const rows = await db('oidc_model as m')
    .leftJoin('registered_client as r', 'r.client_id', 'm.id')
    .where('m.kind', 'Client')
    .andWhere('m.payload', 'like', '%"web_origins"%')
    .whereNull('r.disabled_at')
    .select('m.payload');
  return rows.map((row: { payload: string }) => row.payload);
}
