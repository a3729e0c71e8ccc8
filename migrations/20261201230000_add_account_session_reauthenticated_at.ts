/**
 * When the person last proved who they are in an account session (issue 15):
 * their password, a code from their authenticator app, or a fresh sign-in.
 * Adding or removing a second factor or passkey at /account/security needs one
 * within the last 5 minutes (src/account/pages/reauth.ts). Null: not yet.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_session', (t) => {
    t.bigInteger('reauthenticated_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_session', (t) => {
    t.dropColumn('reauthenticated_at');
  });
}
