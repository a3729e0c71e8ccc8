/**
 * Admin console sessions (SPEC 9, `/admin`): one row per signed-in admin
 * browser, keyed by the SHA-256 of the random id in the `gh.admin` cookie
 * (the id itself is never stored). A session ends when idle too long or too
 * old (`adminConsole.idleTimeout`, `adminConsole.maxAge`), at sign-out, or
 * with its user.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_session', (t) => {
    // sha256(cookie value), hex.
    t.string('id', 64).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_seen_at').notNullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('admin_session');
}
