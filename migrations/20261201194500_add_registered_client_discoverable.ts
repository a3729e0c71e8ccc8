/**
 * Whether a registered client is listed to people at `/account/browse`
 * ("Other apps", SPEC 9 `clients[].discoverable`), where a person without
 * access can ask for it. Off unless an admin turns it on (`gatehouse client
 * set-discoverable ID true`, the console, the admin API). Static clients keep
 * theirs in config.yaml (`clients[].discoverable`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.boolean('discoverable').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropColumn('discoverable');
  });
}
