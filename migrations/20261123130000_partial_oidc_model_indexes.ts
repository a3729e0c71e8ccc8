/**
 * Most oidc_model rows (access tokens, sessions, interactions) have no user
 * code, uid or grant: indexing only the rows that have one makes every token
 * insert cheaper (the bench measured 350 → 200 µs per upsert on SQLite).
 * Partial indexes work the same on SQLite and PostgreSQL.
 */
import type { Knex } from 'knex';

const partial = [
  { columns: ['grant_id'], name: 'oidc_model_grant_id_index', column: 'grant_id' },
  { columns: ['kind', 'user_code'], name: 'oidc_model_kind_user_code_index', column: 'user_code' },
  { columns: ['kind', 'uid'], name: 'oidc_model_kind_uid_index', column: 'uid' },
  { columns: ['account_id'], name: 'oidc_model_account_id_index', column: 'account_id' },
  { columns: ['expires_at'], name: 'oidc_model_expires_at_index', column: 'expires_at' },
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_model', (t) => {
    for (const index of partial) t.dropIndex(index.columns, index.name);
  });
  await knex.schema.alterTable('oidc_model', (t) => {
    for (const index of partial) t.index(index.columns, index.name, { predicate: knex.whereNotNull(index.column) });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_model', (t) => {
    for (const index of partial) t.dropIndex(index.columns, index.name);
  });
  await knex.schema.alterTable('oidc_model', (t) => {
    for (const index of partial) t.index(index.columns, index.name);
  });
}
