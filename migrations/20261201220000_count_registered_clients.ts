/**
 * The number of registered clients that count against `maxClients` (every
 * one not revoked), kept in a one-row table by triggers on registered_client,
 * so a registration reads one row instead of counting them all (a count took
 * milliseconds with 20,000 clients, on every registration: bench/README.md).
 * The triggers run inside the statement that changes registered_client, in
 * its transaction, so the number is exact whichever code path inserts,
 * deletes or revokes a client, on SQLite and PostgreSQL alike.
 */
import type { Knex } from 'knex';

const counts = (row: 'new' | 'old') => `(case when ${row}.disabled_reason is null or ${row}.disabled_reason <> 'revoked' then 1 else 0 end)`;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registered_client_count', (t) => {
    t.integer('id').primary();
    t.bigInteger('n').notNullable();
  });
  const [row] = await knex('registered_client')
    .whereNot('disabled_reason', 'revoked')
    .orWhereNull('disabled_reason')
    .count<{ n: number | string }[]>({ n: '*' });
  await knex('registered_client_count').insert({ id: 1, n: Number(row?.n ?? 0) });
  if (knex.client.driverName === 'better-sqlite3') {
    await knex.raw(`create trigger registered_client_count_insert after insert on registered_client
      begin update registered_client_count set n = n + ${counts('new')} where id = 1; end`);
    await knex.raw(`create trigger registered_client_count_delete after delete on registered_client
      begin update registered_client_count set n = n - ${counts('old')} where id = 1; end`);
    await knex.raw(`create trigger registered_client_count_update after update of disabled_reason on registered_client
      begin update registered_client_count set n = n + ${counts('new')} - ${counts('old')} where id = 1; end`);
    return;
  }
  await knex.raw(`create function registered_client_count_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        update registered_client_count set n = n + ${counts('new')} where id = 1;
      elsif tg_op = 'DELETE' then
        update registered_client_count set n = n - ${counts('old')} where id = 1;
      else
        update registered_client_count set n = n + ${counts('new')} - ${counts('old')} where id = 1;
      end if;
      return null;
    end $$`);
  await knex.raw(`create trigger registered_client_count_change after insert or delete or update of disabled_reason on registered_client
    for each row execute function registered_client_count_change()`);
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.driverName === 'better-sqlite3') {
    for (const name of ['insert', 'delete', 'update']) await knex.raw(`drop trigger if exists registered_client_count_${name}`);
  } else {
    await knex.raw('drop trigger if exists registered_client_count_change on registered_client');
    await knex.raw('drop function if exists registered_client_count_change()');
  }
  await knex.schema.dropTable('registered_client_count');
}
