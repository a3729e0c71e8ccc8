/**
 * Password reset links (issue 13): one row per link mailed from "Forgot
 * password?", keyed by the SHA-256 of the random token in the link (the token
 * itself is never stored). A link works once (`used_at`, set by a conditional
 * update in the transaction that changes the password) and until `expires_at`
 * (one hour after it was asked for). Rows go with their local account.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('password_reset', (t) => {
    // sha256(token), hex.
    t.string('token_hash', 64).primary();
    t.string('local_account_id', 36).notNullable().references('id').inTable('local_account').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
    t.index(['local_account_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('password_reset');
}
