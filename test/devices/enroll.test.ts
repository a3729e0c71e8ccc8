/**
 * Device self-enrollment with a signed registration JWT (SPEC 6.2) on SQLite
 * and PostgreSQL: a device presents the JWT its firmware carries with its own
 * manufacturer id and gets client credentials that work at the token endpoint;
 * the same manufacturer id again is a 409 with no new credentials; every way a
 * JWT can be wrong is a 401 with its own plain description; every outcome is
 * in the audit log.
 */
import { generateKeyPair, UnsecuredJWT, decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.ts';
import { DeviceEnrollment } from '../../src/devices/enrollment.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { auditOf, craftToken, deviceConfig, deviceJwtIssuer, enroll, newManufacturerId } from '../helpers/devices.ts';
import { count, type Answer } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const hour = 3_600_000;

describe.each(databaseKinds)('device enrollment on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let introspector: client.Configuration;
  /** A live device token with no limit, for the cases that need one. */
  let unlimited: { id: string; token: string };

  const clientCount = () => count(server.gh, 'oidc_model', { kind: 'Client' });
  const recordCount = () => count(server.gh, 'registered_client');
  const usesOf = async (id: string) => (await server.gh.devices.getToken(id)).uses;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, deviceConfig());
    introspector = await client.discovery(new URL(server.url), 'service', testClients.service.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const made = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 0, description: 'fleet' }, 'test');
    unlimited = { id: made.row.id, token: made.token };
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('enrolls a device: 201 with its own credentials, which get a client_credentials token that is active at introspection', async () => {
    const manufacturerId = newManufacturerId();
    const answer = await enroll(server.url, { token: unlimited.token, manufacturerId });
    expect(answer.status, answer.text).toBe(201);
    expect(Object.keys(answer.body).sort()).toEqual(['accessKey', 'accessSecret', 'clientId', 'clientSecret', 'deviceId', 'tokenEndpoint']);
    const { deviceId, accessKey, accessSecret, clientId, clientSecret, tokenEndpoint } = answer.body as Record<string, string>;
    expect(accessKey).toBe(deviceId);
    expect(clientId).toBe(deviceId);
    expect(accessSecret).toBe(clientSecret);
    expect(clientSecret!.length).toBeGreaterThanOrEqual(32);
    expect(answer.headers.get('cache-control')).toBe('no-store');

    // The relying party's view: discovery agrees on the token endpoint, and the credentials work there.
    const device = await client.discovery(new URL(server.url), clientId!, clientSecret!, client.ClientSecretBasic(clientSecret!), {
      execute: [client.allowInsecureRequests],
    });
    expect(device.serverMetadata().token_endpoint).toBe(tokenEndpoint);
    const tokens = await client.clientCredentialsGrant(device);
    const introspected = await client.tokenIntrospection(introspector, tokens.access_token);
    expect(introspected.active).toBe(true);
    expect(introspected.client_id).toBe(clientId);

    const record = await server.gh.registrar.findRecord(clientId!);
    expect(record).toMatchObject({ via: 'jwt', kind: 'device', manufacturer_id: manufacturerId, device_token_id: unlimited.id, registration_token_id: null });
    expect((await server.gh.clients.find(clientId!))?.name).toBe(`Device ${manufacturerId}`);
    const enrolled = (await auditOf(server.gh, 'device.enrolled')).filter((a) => a.subject === clientId);
    expect(enrolled).toHaveLength(1);
    expect(enrolled[0]!.details).toMatchObject({ manufacturerId, deviceToken: unlimited.id });
    expect(enrolled[0]!.actor).toBe(`device:${manufacturerId}@127.0.0.1`);
  });

  it('answers 409 for a manufacturer id that is already enrolled, with no new credentials and no new client', async () => {
    const manufacturerId = newManufacturerId();
    const first = await enroll(server.url, { token: unlimited.token, manufacturerId });
    expect(first.status, first.text).toBe(201);
    const [clients, records, uses] = [await clientCount(), await recordCount(), await usesOf(unlimited.id)];

    const again = await enroll(server.url, { token: unlimited.token, manufacturerId });
    expect(again.status, again.text).toBe(409);
    expect(again.body).toEqual({ error: 'device.duplicate', error_description: `a device with manufacturer id ${manufacturerId} is already enrolled` });
    expect(again.text).not.toContain(String(first.body.clientSecret));
    expect([await clientCount(), await recordCount(), await usesOf(unlimited.id)]).toEqual([clients, records, uses]);

    const refused = (await auditOf(server.gh, 'device.enroll_refused')).filter((a) => a.actor === `device:${manufacturerId}@127.0.0.1`);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.details).toMatchObject({ code: 'device.duplicate' });
  });

  it('accepts an iat 5 s in the future (a device clock a little ahead)', async () => {
    const token = await craftToken({ jti: unlimited.id, iat: Math.floor(Date.now() / 1000) + 5 });
    const answer = await enroll(server.url, { token, manufacturerId: newManufacturerId() });
    expect(answer.status, answer.text).toBe(201);
  });

  it('refuses each kind of bad registration JWT with 401 and its own plain description, creating nothing', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const revoked = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 0 }, 'test');
    await server.gh.devices.revokeToken(revoked.row.id, 'test');
    const once = await server.gh.devices.createToken({ expiresAt: Date.now() + hour, maxDevices: 1 }, 'test');
    const usedOnce = await enroll(server.url, { token: once.token, manufacturerId: newManufacturerId() });
    expect(usedOnce.status, usedOnce.text).toBe(201);
    const { privateKey: rsaKey } = await generateKeyPair('RS256');
    const { privateKey: ecKey } = await generateKeyPair('ES256');
    const jti = unlimited.id;

    const cases: { name: string; token: string; description: string }[] = [
      {
        name: 'iat 90 s in the future',
        token: await craftToken({ jti, iat: nowSec + 90 }),
        description: 'the device token was issued in the future (check the device clock)',
      },
      { name: 'expired', token: await craftToken({ jti, iat: nowSec - 7200, exp: nowSec - 3600 }), description: 'the device token has expired' },
      { name: 'no exp', token: await craftToken({ jti, exp: undefined }), description: 'the device token\'s "exp" claim is missing or not valid' },
      { name: 'no jti', token: await craftToken({ jti: undefined }), description: 'the device token\'s "jti" claim is missing or not valid' },
      { name: 'a jti not in the database', token: await craftToken({}), description: 'the device token is not known here' },
      { name: 'a revoked token', token: revoked.token, description: 'the device token has been revoked' },
      { name: 'a token used by its max-devices count', token: once.token, description: 'the device token has been used by the maximum number of devices (1)' },
      {
        name: 'a token signed with another secret',
        token: await craftToken({ jti }, { secret: 'another-secret-that-is-long-enough-0123456789' }),
        description: 'the device token signature is not valid',
      },
      {
        name: 'wrong iss',
        token: await craftToken({ jti, iss: 'evil.example' }),
        description: `the device token was not issued for this server (expected issuer ${deviceJwtIssuer})`,
      },
      {
        name: 'no iss',
        token: await craftToken({ jti, iss: undefined }),
        description: `the device token was not issued for this server (expected issuer ${deviceJwtIssuer})`,
      },
      { name: 'not a JWT at all', token: 'not-a-jwt', description: 'the device token is not a valid signed JWT' },
      // Each algorithm refusal names the algorithm it found.
      {
        name: 'alg none',
        token: new UnsecuredJWT({ iss: deviceJwtIssuer, jti, exp: nowSec + 3600 }).encode(),
        description: 'the device token is not signed (alg none); it must be signed with HS256',
      },
      {
        name: 'HS512 with the same secret',
        token: await craftToken({ jti }, { alg: 'HS512' }),
        description: 'the device token is signed with HS512; it must be signed with HS256',
      },
      {
        name: 'RS256 with a generated key',
        token: await craftToken({ jti }, { alg: 'RS256', secret: rsaKey }),
        description: 'the device token is signed with RS256; it must be signed with HS256',
      },
      {
        name: 'ES256 with a generated key',
        token: await craftToken({ jti }, { alg: 'ES256', secret: ecKey }),
        description: 'the device token is signed with ES256; it must be signed with HS256',
      },
    ];
    // Sanity: the crafted tokens carry what their names say.
    expect(decodeJwt(cases[2]!.token).exp).toBeUndefined();
    expect(decodeJwt(cases[3]!.token).jti).toBeUndefined();

    const [clients, records, uses] = [await clientCount(), await recordCount(), await usesOf(jti)];
    const answers: [string, Answer][] = [];
    for (const c of cases) {
      const manufacturerId = newManufacturerId('bad');
      const answer = await enroll(server.url, { token: c.token, manufacturerId });
      answers.push([c.name, answer]);
      expect({ case: c.name, status: answer.status, body: answer.body }).toEqual({
        case: c.name,
        status: 401,
        body: { error: 'device.invalid_token', error_description: c.description },
      });
      const refused = (await auditOf(server.gh, 'device.enroll_refused')).filter((a) => a.actor === `device:${manufacturerId}@127.0.0.1`);
      expect(
        refused.map((a) => a.details),
        c.name,
      ).toEqual([{ code: 'device.invalid_token', reason: c.description }]);
    }
    expect([await clientCount(), await recordCount(), await usesOf(jti)]).toEqual([clients, records, uses]);
    expect(await usesOf(once.row.id)).toBe(1);
    // Every refusal reads differently (iss wrong / missing name the same claim).
    const distinct = new Set(answers.map(([, a]) => a.body.error_description));
    expect(distinct.size).toBe(cases.length - 1);
  });

  it('refuses a token from the moment its exp passes, as expired (the database row expires at the same time)', async () => {
    // The server's own clock decides; domain-level, so time can be moved without waiting.
    let offset = 0;
    const clock = { now: () => systemClock.now() + offset };
    const devices = new DeviceEnrollment(server.gh.db, clock, server.gh.audit, {
      deviceRegistration: server.config.deviceRegistration,
      issuer: server.config.issuer,
      clients: server.config.clients,
    });
    const made = await devices.createToken({ expiresAt: Date.now() + 60_000, maxDevices: 5 }, 'test');
    offset = 60_000 + 5_000;
    const refusal = await devices.enroll({ token: made.token, manufacturerId: newManufacturerId(), ip: '127.0.0.1' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(GatehouseError);
    expect(refusal).toMatchObject({ code: 'device.invalid_token', message: 'the device token has expired' });
    expect((await devices.getToken(made.row.id)).uses).toBe(0);
  });
});
