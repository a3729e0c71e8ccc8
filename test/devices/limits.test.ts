/**
 * What else stands between a device and enrollment (SPEC 6.2): the optional
 * manufacturer id allow-list (a file, one id per line, # comments, re-read
 * when it changes, no restart), the per-IP attempt limit (429 past it), and
 * the feature switch (off: the endpoint does not exist). One server per
 * setting; the decisions are in memory and the file system, so SQLite alone.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { auditOf, deviceConfig, enroll, enrollRaw, newManufacturerId } from '../helpers/devices.ts';
import { count } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const hour = 3_600_000;

describe('manufacturer id allow-list', () => {
  let db: TestDatabase;
  let server: TestServer;
  let listFile: string;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    listFile = path.join(db.dir, 'manufacturer-ids.txt');
    writeFileSync(listFile, ['# sensors from the March batch', 'sensor-1', '  sensor-2   # the spare', '', 'sensor-3', ''].join('\n'));
    server = await startTestServer(db, deviceConfig({ allowedManufacturerIds: listFile }));
    token = (await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 0 }, 'test')).token;
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('refuses an id that is not on the list with 403, and audits it', async () => {
    const answer = await enroll(server.url, { token, manufacturerId: 'sensor-9' });
    expect(answer.status, answer.text).toBe(403);
    expect(answer.body).toEqual({ error: 'device.not_allowed', error_description: 'manufacturer id sensor-9 is not on the allow-list' });
    // A comment line is not an id.
    expect((await enroll(server.url, { token, manufacturerId: 'sensors' })).status).toBe(403);
    const refused = (await auditOf(server.gh, 'device.enroll_refused')).filter((a) => a.actor === 'device:sensor-9@127.0.0.1');
    expect(refused.map((a) => a.details?.code)).toEqual(['device.not_allowed']);
    expect(await count(server.gh, 'registered_client')).toBe(0);
  });

  it('enrolls ids on the list, with spaces and a trailing comment around them', async () => {
    expect((await enroll(server.url, { token, manufacturerId: 'sensor-1' })).status).toBe(201);
    expect((await enroll(server.url, { token, manufacturerId: 'sensor-2' })).status).toBe(201);
  });

  it('still checks the signature first: a bad token with an allowed id is a 401, not a 403 or 201', async () => {
    const answer = await enroll(server.url, { token: `${token.slice(0, -4)}AAAA`, manufacturerId: 'sensor-3' });
    expect(answer.status, answer.text).toBe(401);
  });

  it('takes an edit of the file without a restart: an added id enrolls, a removed one is refused', async () => {
    writeFileSync(listFile, ['# sensors from the March batch', 'sensor-1', 'sensor-2', 'sensor-9', ''].join('\n'));
    const added = await enroll(server.url, { token, manufacturerId: 'sensor-9' });
    expect(added.status, added.text).toBe(201);
    const removed = await enroll(server.url, { token, manufacturerId: 'sensor-3' });
    expect(removed.status, removed.text).toBe(403);
  });

  it('keeps the last list read when the file goes away after start', async () => {
    writeFileSync(listFile, 'sensor-4\nsensor-5\n');
    expect((await enroll(server.url, { token, manufacturerId: 'sensor-4' })).status).toBe(201);
    rmSync(listFile);
    expect((await enroll(server.url, { token, manufacturerId: 'sensor-5' })).status).toBe(201);
    expect((await enroll(server.url, { token, manufacturerId: 'sensor-6' })).status).toBe(403);
  });
});

describe('per-IP enrollment limit', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, deviceConfig({ rateLimit: 3 }));
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('answers 429 to the 4th attempt within the window, whatever the first three were, before looking at the token', async () => {
    const { token } = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 0 }, 'test');
    expect((await enroll(server.url, { token, manufacturerId: newManufacturerId() })).status).toBe(201);
    expect((await enrollRaw(server.url, { body: 'nonsense', contentType: 'text/plain' })).status).toBe(400);
    expect((await enroll(server.url, { token: 'not-a-jwt', manufacturerId: newManufacturerId() })).status).toBe(401);

    const fourth = await enroll(server.url, { token, manufacturerId: newManufacturerId() });
    expect(fourth.status, fourth.text).toBe(429);
    expect(fourth.body).toEqual({
      error: 'rate_limited',
      error_description: 'too many enrollment attempts from this address; wait a few minutes and try again',
    });
    expect(await count(server.gh, 'registered_client')).toBe(1);
    expect((await enroll(server.url, { token, manufacturerId: newManufacturerId() })).status).toBe(429);
    // Audited: the malformed request, and the first rate-limited one only (no flood of rows).
    const refusals = (await auditOf(server.gh, 'device.enroll_refused')).filter((a) => a.actor === 'device:?@127.0.0.1');
    expect(refusals.map((a) => (a.details as { code: string }).code).sort()).toEqual(['input.invalid', 'rate_limited']);
  });
});

describe('device registration switched off', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {});
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('has no enrollment endpoint (404) when deviceRegistration.enabled is false', async () => {
    const answer = await enroll(server.url, { token: 'x.y.z', manufacturerId: 'sn-1' });
    expect(answer.status, answer.text).toBe(404);
  });
});
