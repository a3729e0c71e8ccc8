/**
 * First-auth gating (SPEC section 3): ACL tokens (invitations) and client tokens,
 * their links to each other and to users, join requests with single-use
 * approval links, and the per-interaction record of an identity that is still
 * waiting at the gate. Tokens and links are stored only as SHA-256 hashes.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('acl_token', (t) => {
    t.string('id', 36).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('description', 500);
    // 1 = personal, N = at most N users, 0 = global (unlimited).
    t.integer('max_users').notNullable();
    // Moves only by a conditional UPDATE (uses < max_users), see src/db/repos/acl-tokens.ts.
    t.integer('uses').notNullable().defaultTo(0);
    t.string('kind', 16).notNullable().defaultTo('invitation');
    t.bigInteger('expires_at');
    t.bigInteger('revoked_at');
    t.string('created_by', 320).notNullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('client_token', (t) => {
    t.string('id', 36).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('client_id', 255).notNullable();
    t.bigInteger('expires_at');
    t.bigInteger('revoked_at');
    t.string('created_by', 320).notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['client_id']);
  });

  await knex.schema.createTable('acl_token_client_token', (t) => {
    t.string('acl_token_id', 36).notNullable().references('id').inTable('acl_token').onDelete('CASCADE');
    t.string('client_token_id', 36).notNullable().references('id').inTable('client_token').onDelete('CASCADE');
    t.primary(['acl_token_id', 'client_token_id']);
    t.index(['client_token_id']);
  });

  await knex.schema.createTable('user_acl_token', (t) => {
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    t.string('acl_token_id', 36).notNullable().references('id').inTable('acl_token').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.primary(['user_id', 'acl_token_id']);
    t.index(['acl_token_id']);
  });

  await knex.schema.createTable('join_request', (t) => {
    t.string('id', 36).primary();
    // 'join': a new identity asks for an account; 'access': a known user asks for another client.
    t.string('kind', 16).notNullable();
    t.string('connector_id', 64).notNullable();
    t.string('subject', 255).notNullable();
    t.string('user_id', 36).references('id').inTable('user').onDelete('CASCADE');
    t.string('email', 320).notNullable();
    t.string('name', 200);
    t.text('message');
    t.string('client_id', 255).notNullable();
    t.string('status', 16).notNullable().defaultTo('pending');
    t.string('decided_by', 320);
    t.bigInteger('decided_at');
    // The personal ACL token made on approval; redeemed at the identity's next login.
    t.string('acl_token_id', 36).references('id').inTable('acl_token').onDelete('SET NULL');
    t.bigInteger('redeemed_at');
    t.bigInteger('created_at').notNullable();
    t.index(['status']);
    t.index(['connector_id', 'subject']);
  });

  await knex.schema.createTable('approval_link', (t) => {
    t.string('token_hash', 64).primary();
    t.string('join_request_id', 36).notNullable().references('id').inTable('join_request').onDelete('CASCADE');
    t.string('action', 16).notNullable();
    t.string('approver', 320).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
    t.index(['join_request_id']);
  });

  // An identity that has proven who it is but is not let in yet, per interaction.
  await knex.schema.createTable('pending_identity', (t) => {
    t.string('interaction_uid', 255).primary();
    t.string('connector_id', 64).notNullable();
    t.string('subject', 255).notNullable();
    t.string('email', 320);
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.string('name', 200);
    t.bigInteger('expires_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['pending_identity', 'approval_link', 'join_request', 'user_acl_token', 'acl_token_client_token', 'client_token', 'acl_token']) {
    await knex.schema.dropTableIfExists(table);
  }
}
