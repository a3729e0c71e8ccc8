/**
 * Second factors (issue 15, identity/mfa/): `mfa_factor` holds one row per
 * factor a person enrolled (TOTP, passkeys…), `mfa_recovery_code` the hashes of
 * their single-use recovery codes, `mfa_requirement` the people who must enroll
 * a factor at their next sign-in (an invitation with `require_mfa`), and
 * `acl_token.require_mfa` marks such invitations.
 *
 * `mfa_factor.last_step` is the TOTP replay guard: the last accepted 30 s time
 * step, moved only by a conditional UPDATE (`last_step < step`) so a code is
 * accepted once even under parallel requests. `confirmed_at` is null while an
 * enrollment waits for its first code. `secret` is the factor's data as text
 * (a TOTP secret in base32, stored as is for now; a passkey's credential JSON).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mfa_factor', (t) => {
    t.string('id', 36).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    // 'totp' | 'passkey' | …
    t.string('kind', 16).notNullable();
    t.string('name', 200).notNullable();
    t.text('secret').notNullable();
    // A passkey's credential id (base64url), unique among passkeys; null for TOTP.
    t.string('credential_id', 1400);
    t.bigInteger('last_step');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('confirmed_at');
    t.bigInteger('last_used_at');
    t.index(['user_id']);
    t.unique(['credential_id']);
  });
  await knex.schema.createTable('mfa_recovery_code', (t) => {
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    // sha256(code), hex.
    t.string('code_hash', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('used_at');
    t.primary(['user_id', 'code_hash']);
  });
  await knex.schema.createTable('mfa_requirement', (t) => {
    t.string('user_id', 36).primary().references('id').inTable('user').onDelete('CASCADE');
    // Why: 'invitation' (and the token's id in `detail`).
    t.string('reason', 32).notNullable();
    t.string('detail', 200);
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.alterTable('acl_token', (t) => {
    t.boolean('require_mfa').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('acl_token', (t) => {
    t.dropColumn('require_mfa');
  });
  await knex.schema.dropTableIfExists('mfa_requirement');
  await knex.schema.dropTableIfExists('mfa_recovery_code');
  await knex.schema.dropTableIfExists('mfa_factor');
}
