/**
 * Whether a registered client requires a second factor at sign-in (issue 15):
 * the `mfa` prompt asks for one (or has the person set one up) before the
 * code is issued. Off unless an admin turns it on (`gatehouse client
 * set-require-mfa ID true`, the console, the admin API). Static clients keep
 * theirs in config.yaml (`clients[].requireMfa`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.boolean('require_mfa').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropColumn('require_mfa');
  });
}
