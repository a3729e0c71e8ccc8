/**
 * One transaction per decision. Its first statement is the flavour's
 * `beginDecision` (./flavor.ts): on SQLite it takes the write lock at BEGIN
 * time, so a transaction that reads and then writes never hits SQLITE_BUSY
 * half-way when another process (the CLI) writes at the same time.
 */
import type { Knex } from 'knex';
import { beginDecision, insertUnique, usesFastPath } from './flavor.ts';
import type { Db, DbOrTrx } from './knex.ts';
import { SqliteTx, writeTransaction } from './sqlite-statements.ts';

/** Where a hot path's statements run: a knex transaction (PostgreSQL) or the SQLite group's (`withWriteTransaction`). */
export type Tx = Knex.Transaction | SqliteTx;
/** A repository function of a hot path takes either, or the database itself. */
export type DbOrTx = DbOrTrx | SqliteTx;

export async function withTransaction<T>(db: Db, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await beginDecision(trx);
    return work(trx);
  });
}

/**
 * A transaction on a hot path (registration, device enrollment): on SQLite
 * committed with the other writes of the same event-loop turn, its statements
 * prepared once (./sqlite-statements.ts `writeTransaction`); on PostgreSQL a
 * knex transaction as `withTransaction`. The repository functions it calls
 * take `DbOrTx` and have a branch for `SqliteTx`.
 */
export async function withWriteTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (usesFastPath(db)) return writeTransaction(db, work);
  return withTransaction(db, work);
}

/**
 * Inserts one row through either kind of transaction (or the database itself);
 * a unique violation is answered as `already_exists` naming `what`. Table and
 * column names are ours, never input.
 */
export function insertRow(db: DbOrTx, table: string, row: object, what: string): Promise<void> {
  return insertUnique(
    db instanceof SqliteTx
      ? Promise.resolve().then(() => void db.insert(`"${table}"`, row))
      : db(table)
          .insert(row)
          .then(() => undefined),
    what,
  );
}
