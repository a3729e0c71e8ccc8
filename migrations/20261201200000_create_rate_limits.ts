/**
 * The counters of every limit when `security.rateLimits.store` is `database`
 * (the default; src/lib/limiter-store.ts): one row per counted key (the limit's
 * name, then the IP, account or caller), shared by every instance on this
 * database. A hit is one INSERT ... ON CONFLICT DO UPDATE on the row, so
 * instances count exactly. `ends_at` (ms) is when the key's window ends; rows
 * past it are deleted from time to time.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limit', (t) => {
    t.string('name', 255).primary();
    t.integer('hits').notNullable();
    t.bigInteger('ends_at').notNullable();
    t.index(['ends_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('rate_limit');
}
