/**
 * The limit counters' table without its index on `ends_at` (issue 14): every
 * hit moves a row's `ends_at`, so the index cost each hit a second b-tree
 * change (on SQLite about half the counting statement, and twice the pages a
 * commit writes; on PostgreSQL it ruled out HOT updates). It served only the
 * deletion of ended rows, which now runs at most once a minute
 * (src/lib/limiter-store.ts) and reads the table through.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('rate_limit', (t) => {
    t.dropIndex(['ends_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('rate_limit', (t) => {
    t.index(['ends_at']);
  });
}
