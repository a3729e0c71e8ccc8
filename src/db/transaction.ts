/**
 * One transaction per decision. Its first statement is the flavour's
 * `beginDecision` (./flavor.ts): on SQLite it takes the write lock at BEGIN
 * time, so a transaction that reads and then writes never hits SQLITE_BUSY
 * half-way when another process (the CLI) writes at the same time.
 */
import type { Knex } from 'knex';
import { beginDecision } from './flavor.ts';
import type { Db } from './knex.ts';

export async function withTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await beginDecision(trx);
    return work(trx);
  });
}
