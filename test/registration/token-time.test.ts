/**
 * The "last token" time of a registered client (`device list`), as two
 * Gatehouse instances on one database (SQLite file, PostgreSQL) note tokens
 * for the same client: each instance's memory is the first gate, and the
 * write itself happens only when the stored time is a minute old, so together
 * they write it at most once a minute (registrar.ts `noteTokenIssued`,
 * db/repos/registration.ts `touchClientTokenTime`). The writes are counted as
 * the database answers them (rows changed); time moves on the injected clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { findRegisteredClient, insertRegisteredClient } from '../../src/db/repos/registration.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { buildConfig } from '../helpers/server.ts';

const minute = 60_000;

function movableClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe.each(databaseKinds)('the last-token time noted at two instances on one %s database', (kind) => {
  let db: TestDatabase;
  let one: Gatehouse;
  let two: Gatehouse;
  const clock = movableClock();
  /** Rows changed by each last-token update either instance ran, in the order the database answered. */
  const writes: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const config = buildConfig({ issuer: 'http://127.0.0.1:9' }, db);
    one = createGatehouse(config, { logger: createLogger('silent'), clock });
    two = createGatehouse(config, { logger: createLogger('silent'), clock });
    await migrateLatest(one.db);
    for (const gh of [one, two])
      gh.db.on('query-response', (response: unknown, query: { sql?: string }) => {
        if (/^update .registered_client. set .last_token_at./i.test(query.sql ?? '')) writes.push(Number(response));
      });
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
    await db?.drop();
  });

  const client = async (clientId: string) => {
    await insertRegisteredClient(one.db, {
      client_id: clientId,
      registration_token_id: null,
      via: 'rfc7591',
      kind: 'device',
      disabled_reason: null,
      disabled_at: null,
      created_at: clock.now(),
    });
    return async () => (await findRegisteredClient(one.db, clientId))?.last_token_at;
  };
  /** Waits until `count` updates have been answered in all, and gives the rows each of the new ones changed. */
  const answered = async (count: number) => {
    const before = writes.length;
    await expect.poll(() => writes.length - before).toBe(count);
    return writes.slice(before);
  };

  it('writes once when both note a token at the same moment', async () => {
    const lastToken = await client('tv-at-once');
    one.registrar.noteTokenIssued('tv-at-once');
    two.registrar.noteTokenIssued('tv-at-once');
    expect((await answered(2)).sort()).toEqual([0, 1]);
    expect(Number(await lastToken())).toBe(clock.now());
  });

  it('writes at most once a minute across both, and again once the stored time is a minute old', async () => {
    const lastToken = await client('tv-in-turn');
    const start = clock.now();
    one.registrar.noteTokenIssued('tv-in-turn');
    expect(await answered(1)).toEqual([1]);

    // 30 s later: the second instance has not written for this client itself, asks, and changes nothing.
    clock.advance(30_000);
    two.registrar.noteTokenIssued('tv-in-turn');
    expect(await answered(1)).toEqual([0]);
    expect(Number(await lastToken())).toBe(start);
    // The first one's memory stops it before the database.
    one.registrar.noteTokenIssued('tv-in-turn');

    // A minute after the write (exactly): written again, by whichever asks first.
    clock.advance(30_000);
    two.registrar.noteTokenIssued('tv-in-turn'); // its own memory: 30 s, no question
    one.registrar.noteTokenIssued('tv-in-turn');
    expect(await answered(1)).toEqual([1]);
    expect(Number(await lastToken())).toBe(start + minute);

    clock.advance(30_000);
    two.registrar.noteTokenIssued('tv-in-turn');
    expect(await answered(1)).toEqual([0]);
    clock.advance(30_000);
    two.registrar.noteTokenIssued('tv-in-turn'); // it asked 30 s ago: its memory stops it
    one.registrar.noteTokenIssued('tv-in-turn');
    expect(await answered(1)).toEqual([1]);
    expect(Number(await lastToken())).toBe(start + 2 * minute);
  });
});
