/**
 * People's pages sessions (SPEC 9, `/account` and `/review`): one row per
 * signed-in browser, keyed by the SHA-256 of the random id in the
 * `gh.account` cookie (the id itself is never stored). Kept apart from the
 * admin console's `admin_session`: a cookie of one never opens the other, and
 * "sign out everywhere" or a password change ends a person's account sessions
 * without touching the console's. `oidc_session_uid` names the Gatehouse
 * sign-in (oidc-provider's session uid) the session came from, so signing
 * that one out (or keeping it, at a password change) is exact. Rows go with
 * their user.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_session', (t) => {
    // sha256(cookie value), hex.
    t.string('id', 64).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    t.string('oidc_session_uid', 128);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_seen_at').notNullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('account_session');
}
