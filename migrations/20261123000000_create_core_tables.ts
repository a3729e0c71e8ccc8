/**
 * The core schema: oidc-provider's state, signing and cookie keys, people
 * (`user`, `user_idp`, local accounts), the mail outbox and the audit log.
 * Timestamps are epoch milliseconds in BIGINT columns so SQLite and
 * PostgreSQL compare them the same way.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One-row table written first in every SQLite transaction (see src/db/transaction.ts).
  await knex.schema.createTable('write_lock', (t) => {
    t.integer('id').primary();
  });
  await knex('write_lock').insert({ id: 1 });

  // Everything oidc-provider keeps: sessions, grants, codes, tokens, interactions,
  // device codes, registered clients, replay detection... one row per (kind, id).
  await knex.schema.createTable('oidc_model', (t) => {
    t.string('kind', 64).notNullable();
    t.string('id', 255).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    t.string('user_code', 64);
    t.string('uid', 255);
    // The user a row belongs to, so disabling or deleting a user ends their sessions and tokens.
    t.string('account_id', 36);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['kind', 'id']);
    t.index(['grant_id']);
    t.index(['kind', 'user_code']);
    t.index(['kind', 'uid']);
    t.index(['account_id']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('signing_key', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('private_jwk').notNullable();
    t.bigInteger('created_at').notNullable();
    // Set when a newer key of the same algorithm takes over; the key stays
    // published until every token it signed has expired.
    t.bigInteger('retired_at');
  });

  await knex.schema.createTable('cookie_key', (t) => {
    t.increments('id');
    t.string('secret', 128).notNullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('user', (t) => {
    t.string('id', 36).primary();
    t.string('email', 320);
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.string('name', 200);
    t.string('status', 16).notNullable().defaultTo('active');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_login_at');
    t.index(['email']);
  });

  await knex.schema.createTable('user_idp', (t) => {
    t.string('connector_id', 64).notNullable();
    t.string('subject', 255).notNullable();
    t.string('user_id', 36).notNullable().references('id').inTable('user').onDelete('CASCADE');
    t.string('email', 320);
    t.bigInteger('created_at').notNullable();
    t.primary(['connector_id', 'subject']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('local_account', (t) => {
    t.string('id', 36).primary();
    t.string('email', 320).notNullable().unique();
    t.string('name', 200);
    t.string('password_hash', 255).notNullable();
    t.bigInteger('email_verified_at');
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('email_verification', (t) => {
    t.string('token_hash', 64).primary();
    t.string('local_account_id', 36).notNullable().references('id').inTable('local_account').onDelete('CASCADE');
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
  });

  await knex.schema.createTable('mail_outbox', (t) => {
    t.increments('id');
    t.string('to', 320).notNullable();
    t.string('subject', 500).notNullable();
    t.text('text').notNullable();
    t.text('html');
    t.string('status', 16).notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('locked_until');
    t.text('last_error');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('sent_at');
    t.index(['status', 'next_attempt_at']);
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.increments('id');
    t.bigInteger('at').notNullable();
    t.string('actor', 320).notNullable();
    t.string('action', 64).notNullable();
    t.string('subject', 255);
    t.text('details');
    t.index(['at']);
    t.index(['action']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'audit_log',
    'mail_outbox',
    'email_verification',
    'local_account',
    'user_idp',
    'user',
    'cookie_key',
    'signing_key',
    'oidc_model',
    'write_lock',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
