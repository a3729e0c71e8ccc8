/**
 * SQLite under mixed load, the short version of the bench's mixed workload
 * (bench/workloads/mixed-load.ts, `npm run bench`): 20 concurrent clients
 * signing in (first logins redeeming an invitation, and again), taking
 * client_credentials tokens, refreshing, introspecting, registering clients
 * and enrolling devices, all against one Gatehouse on one SQLite file. Bounded
 * by a count of operations, not by a clock.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixedLoadConfig, seedMixedLoad } from '../../bench/servers/mixed-seed.ts';
import { mixedLoad, mixedSummary, type MixedServer } from '../../bench/workloads/mixed-load.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('SQLite under mixed load', () => {
  let db: TestDatabase;
  let server: TestServer;
  let mixed: MixedServer;
  const logLines: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    // The server's warnings and errors, as `serve` would print them: SQLITE_BUSY would show here.
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    server = await startTestServer(db, mixedLoadConfig(), { logger: pino({ level: 'warn' }, sink) });
    mixed = await seedMixedLoad(server.gh, server.url, 80);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('answers 20 concurrent clients mixing sign-ins, tokens, refresh, introspection, registrations and enrolments with no 5xx and no SQLITE_BUSY', async () => {
    const report = await mixedLoad(mixed, { concurrency: 20, maxOperations: 200, durationMs: Number.POSITIVE_INFINITY });
    const busy = logLines.filter((line) => line.includes('SQLITE_BUSY')).length;
    console.log(mixedSummary(report, busy));
    expect(report.operations).toBe(200);
    expect(report.serverErrors).toBe(0);
    expect(busy).toBe(0);
    expect(report.failures).toEqual([]);
    // Every kind of operation ran.
    for (const numbers of Object.values(report.byOperation)) expect(numbers.count).toBeGreaterThan(0);
  }, 60_000);
});
