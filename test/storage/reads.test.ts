/**
 * Reads outside a transaction (db/sqlite-statements.ts `readPrepared`, behind
 * the adapter's and the sign-in's lookups): on SQLite they run on knex's own
 * connection while no transaction is open on it, else on the read-only
 * connection. Either way a read sees what is committed and nothing else: not
 * the rows of a transaction still open (a knex transaction, or a group commit
 * whose work awaits), and every row of one that committed. On PostgreSQL the
 * same functions take knex's pool; the same answers are asked of it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { findModel, modelRow, upsertModel, type OidcModelRow } from '../../src/db/repos/oidc-models.ts';
import { withTransaction, withWriteTransaction } from '../../src/db/transaction.ts';
import { databaseKinds, useMigratedDatabase, type DatabaseKind } from '../helpers/databases.ts';

let serial = 0;
const row = (): OidcModelRow => modelRow('AccessToken', `read-${++serial}`, JSON.stringify({ n: serial }));

describe.each(databaseKinds)('reads outside a transaction on %s', (kind: DatabaseKind) => {
  const migrated = useMigratedDatabase(kind);
  let db: Db;
  beforeAll(() => {
    db = migrated.db();
  });

  it('sees a row once its write resolved, and the newest payload after an update', async () => {
    const r = row();
    await upsertModel(db, r);
    expect((await findModel(db, r.kind, r.id))?.payload).toBe(r.payload);
    await upsertModel(db, { ...r, payload: '{"changed":true}' });
    expect((await findModel(db, r.kind, r.id))?.payload).toBe('{"changed":true}');
  });

  it('does not see the rows of a knex transaction still open, and sees them after its commit', async () => {
    const r = row();
    let seenInside: unknown = 'not read';
    await withTransaction(db, async (trx) => {
      await upsertModel(trx, r);
      // On SQLite this transaction holds knex's one connection: the read must not run on it.
      seenInside = await findModel(db, r.kind, r.id);
    });
    expect(seenInside).toBeUndefined();
    expect((await findModel(db, r.kind, r.id))?.id).toBe(r.id);
  });

  it('does not see a row of a transaction that rolled back', async () => {
    const r = row();
    await expect(
      withTransaction(db, async (trx) => {
        await upsertModel(trx, r);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await findModel(db, r.kind, r.id)).toBeUndefined();
  });

  it('does not see the rows of a group commit whose work is still running, nor those of a work that failed', async () => {
    const kept = row();
    const undone = row();
    let seenInside: unknown = 'not read';
    await Promise.allSettled([
      withWriteTransaction(db, async (tx) => {
        await upsertModel(tx, kept);
        // Between two statements of an open transaction other requests' code runs (an await); a read of theirs comes here.
        seenInside = await findModel(db, kept.kind, kept.id);
      }),
      withWriteTransaction(db, async (tx) => {
        await upsertModel(tx, undone);
        throw new Error('this one fails');
      }),
    ]);
    expect(seenInside).toBeUndefined();
    expect((await findModel(db, kept.kind, kept.id))?.id).toBe(kept.id);
    expect(await findModel(db, undone.kind, undone.id)).toBeUndefined();
  });
});
