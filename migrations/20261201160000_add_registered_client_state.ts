/**
 * A registered client's record is written before oidc-provider stores the
 * client (it holds the registration token's use and the maxClients place), so a
 * crash in between used to leave a record with no client and a use never given
 * back. `state` says which it is: 'reserved' until the client is stored, then
 * 'stored'. Start-up and a periodic sweep undo reservations that stayed
 * 'reserved' too long (src/registration/registrar.ts, `repairReservations`).
 * Existing rows are 'stored'; the next migration flags the ones without a client.
 * The partial index keeps the sweep cheap: almost no row is ever 'reserved'.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.string('state', 16).notNullable().defaultTo('stored');
  });
  await knex.schema.alterTable('registered_client', (t) => {
    t.index(['created_at'], 'registered_client_reserved_index', { predicate: knex.whereRaw("state = 'reserved'") });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropIndex(['created_at'], 'registered_client_reserved_index');
  });
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropColumn('state');
  });
}
