/**
 * Passkeys (issue 15): `webauthn_challenge` holds the challenges handed to a
 * browser for a registration or a sign-in, single use (deleted by the one
 * conditional DELETE that takes them) and short-lived (`expires_at` on the
 * injected clock). The passkeys themselves are second factors: rows of
 * `mfa_factor` with kind `passkey` (20261201201000_create_mfa_tables.ts).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webauthn_challenge', (t) => {
    // A random id handed to the browser with the options; the challenge itself stays here.
    t.string('id', 64).primary();
    // 'registration' | 'authentication'
    t.string('purpose', 16).notNullable();
    t.string('challenge', 128).notNullable();
    // The user registering (null for a sign-in: the passkey says who it is).
    t.string('user_id', 36).references('id').inTable('user').onDelete('CASCADE');
    // A name given with a registration, or the interaction a sign-in belongs to.
    t.string('context', 255);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webauthn_challenge');
}
