/**
 * Client registration (SPEC section 5, 6.1): counted registration tokens with
 * an optional template, Gatehouse's record of every registered client (which
 * token made it, whether it is held disabled and why), and the single-use
 * links that let an approver enable a client from an e-mail.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registration_token', (t) => {
    t.string('id', 36).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('description', 500);
    // How many clients may be registered with it; `uses` moves only by a conditional UPDATE (uses < max_clients).
    t.integer('max_clients').notNullable();
    t.integer('uses').notNullable().defaultTo(0);
    // JSON: { grantTypes?, redirectHosts?, scope? }; null = no template.
    t.text('template');
    // Clients made with it start disabled until an approver enables them.
    t.boolean('approval').notNullable().defaultTo(false);
    // Users holding this ACL token reach the clients registered with this token.
    t.string('acl_token_id', 36).references('id').inTable('acl_token').onDelete('SET NULL');
    t.bigInteger('expires_at');
    t.bigInteger('revoked_at');
    t.string('created_by', 320).notNullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('registered_client', (t) => {
    // The oidc_model row (kind 'Client') holds the metadata; this row holds Gatehouse's facts about it.
    t.string('client_id', 255).primary();
    t.string('registration_token_id', 36).references('id').inTable('registration_token').onDelete('SET NULL');
    // 'rfc7591' (the registration endpoint, incl. the agent) or 'keycloak' (the Keycloak representation).
    t.string('via', 16).notNullable();
    // 'device' (client_credentials only) or 'application'.
    t.string('kind', 16).notNullable();
    // Set while the client is held: 'policy' (clientDisabled), 'approval' (token with --approval) or 'admin'.
    t.string('disabled_reason', 16);
    t.bigInteger('disabled_at');
    t.bigInteger('created_at').notNullable();
    t.index(['registration_token_id']);
  });

  await knex.schema.createTable('client_approval_link', (t) => {
    t.string('token_hash', 64).primary();
    t.string('client_id', 255).notNullable().references('client_id').inTable('registered_client').onDelete('CASCADE');
    t.string('approver', 320).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
    t.index(['client_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['client_approval_link', 'registered_client', 'registration_token']) {
    await knex.schema.dropTableIfExists(table);
  }
}
