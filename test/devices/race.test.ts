/**
 * Enrollment under concurrency (SPEC 6.2, style habit 5) over HTTP, on SQLite
 * and PostgreSQL: a device token for 10 devices raced by 20 parallel
 * enrollments enrolls exactly 10 (the conditional UPDATE decides), and one
 * manufacturer id raced by 5 parallel enrollments enrolls once (the unique
 * index decides), the losers' token uses given back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { auditOf, deviceConfig, enroll, newManufacturerId } from '../helpers/devices.ts';
import { count } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const hour = 3_600_000;

describe.each(databaseKinds)('device enrollment races on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, deviceConfig());
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('enrolls exactly 10 devices with a token for 10 raced by 20 parallel enrollments', async () => {
    const { row, token } = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 10 }, 'test');
    const ids = Array.from({ length: 20 }, (_, i) => newManufacturerId(`racer${i}`));
    const answers = await Promise.all(ids.map((manufacturerId) => enroll(server.url, { token, manufacturerId })));

    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(10);
    expect(lost).toHaveLength(10);
    for (const a of lost) {
      expect(a.status, a.text).toBe(401);
      expect(a.body).toEqual({ error: 'device.invalid_token', error_description: 'the device token has been used by the maximum number of devices (10)' });
    }
    const clientIds = won.map((a) => String(a.body.clientId));
    expect(new Set(clientIds).size).toBe(10);

    expect((await server.gh.devices.getToken(row.id)).uses).toBe(10);
    expect(await count(server.gh, 'registered_client', { device_token_id: row.id })).toBe(10);
    expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(10);
    const records = await server.gh.db('registered_client').where({ device_token_id: row.id }).select('client_id');
    expect(records.map((r: { client_id: string }) => r.client_id).sort()).toEqual([...clientIds].sort());
    expect((await auditOf(server.gh, 'device.enrolled')).filter((a) => clientIds.includes(String(a.subject)))).toHaveLength(10);
    expect((await auditOf(server.gh, 'device.enroll_refused')).filter((a) => a.details?.code === 'device.invalid_token')).toHaveLength(10);
  });

  it('enrolls one manufacturer id once when 5 enrollments of it race on an unlimited token; the rest get 409', async () => {
    const { row, token } = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 0 }, 'test');
    const clientsBefore = await count(server.gh, 'oidc_model', { kind: 'Client' });
    const manufacturerId = newManufacturerId('twin');
    const answers = await Promise.all(Array.from({ length: 5 }, () => enroll(server.url, { token, manufacturerId })));

    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const lost = answers.filter((a) => a.status !== 201);
    expect(lost).toHaveLength(4);
    for (const a of lost) {
      expect(a.status, a.text).toBe(409);
      expect(a.body).toEqual({ error: 'device.duplicate', error_description: `a device with manufacturer id ${manufacturerId} is already enrolled` });
    }
    expect(await count(server.gh, 'registered_client', { manufacturer_id: manufacturerId })).toBe(1);
    expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(clientsBefore + 1);
    // The losers' uses were rolled back with their transactions.
    expect((await server.gh.devices.getToken(row.id)).uses).toBe(1);
  });
});
