/**
 * One transaction per decision. On SQLite the first statement is a write to a
 * one-row lock table, which takes the write lock at BEGIN time (the effect of
 * BEGIN IMMEDIATE): a transaction that reads and then writes can then never hit
 * SQLITE_BUSY half-way when another process (the CLI) writes at the same time.
 */
import type { Knex } from 'knex';
import { isSqlite, type Db } from './knex.ts';

export async function withTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    if (isSqlite(db)) await trx('write_lock').where({ id: 1 }).update({ id: 1 });
    return work(trx);
  });
}
