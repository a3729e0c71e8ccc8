/**
 * Device self-registration with signed JWTs (SPEC 6.2): the device tokens
 * (one row per JWT, keyed by its `jti`; the JWT itself is never stored), and
 * on registered_client the manufacturer id (unique: one device, one client),
 * the device token it came with, and when it last got a token.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('device_token', (t) => {
    // The JWT's jti.
    t.string('id', 36).primary();
    t.string('description', 500);
    // 0 = no limit; `uses` moves only by a conditional UPDATE (uses < max_devices).
    t.integer('max_devices').notNullable().defaultTo(0);
    t.integer('uses').notNullable().defaultTo(0);
    // A static client whose scope the devices' clients get.
    t.string('client_template', 255);
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('revoked_at');
    t.string('created_by', 320).notNullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.alterTable('registered_client', (t) => {
    t.string('manufacturer_id', 128).unique();
    t.string('device_token_id', 36).references('id').inTable('device_token').onDelete('SET NULL');
    t.bigInteger('last_token_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropColumn('last_token_at');
    t.dropForeign(['device_token_id']);
    t.dropColumn('device_token_id');
    t.dropUnique(['manufacturer_id']);
    t.dropColumn('manufacturer_id');
  });
  await knex.schema.dropTableIfExists('device_token');
}
