/**
 * Backfill for the `state` column: a record without its client (and not a
 * revoked device, which is kept on purpose) is a registration a crash
 * interrupted before this version, or one in flight on another instance right
 * now. Both are 'reserved'; the repair at start-up then undoes the ghosts once
 * they are older than its bound and gives their uses back. Irreversible in
 * effect: `down` leaves the rows alone (the column goes with the previous
 * migration's `down`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex('registered_client')
    .where('state', 'stored')
    .andWhere((q) => q.whereNull('disabled_reason').orWhereNot('disabled_reason', 'revoked'))
    .whereNotExists(knex('oidc_model').select(knex.raw('1')).where('kind', 'Client').andWhereRaw('oidc_model.id = registered_client.client_id'))
    .update({ state: 'reserved' });
}

export async function down(): Promise<void> {
  // Nothing to undo: 'reserved' rows without a client are ghosts either way.
}
