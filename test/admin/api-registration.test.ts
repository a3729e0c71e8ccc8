/**
 * The admin API's registration tokens, device tokens and devices on SQLite
 * and PostgreSQL: create (201, the secret in that answer only), list, show,
 * revoke; an unknown id is a 404, bad input a 400 naming the field; a device
 * enrolled at POST /api/register-device with a device token made here is in
 * the devices list with its manufacturer id and token, and revoking it stops
 * its client. A server without deviceRegistration.jwt refuses device tokens
 * with a 403 saying what to set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { deviceConfig, enroll, newManufacturerId } from '../helpers/devices.ts';
import { clientCredentials, register, serviceMetadata } from '../helpers/registration.ts';

describe.each(databaseKinds)('admin API registration and device tokens on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, deviceConfig({}, { admins: ['root@example.com'], registration: { enabled: true } }));
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('creates a registration token, shows its secret once, counts its uses, and revokes it', async () => {
    const made = await api.call('POST', '/registration-tokens', {
      body: { count: 2, expires: '7d', description: 'fleet', grantTypes: ['client_credentials'], scope: 'openid' },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      count: 2,
      uses: 0,
      usesLeft: 2,
      state: 'active',
      description: 'fleet',
      grantTypes: ['client_credentials'],
      createdBy: 'key:tests',
    });
    expect(made.body.token).toMatch(/^ghr_/);
    expect(made.body.registrationEndpoint).toBe(`${api.server.url}/reg`);

    expect((await register(api.server.url, serviceMetadata(), made.body.token)).status).toBe(201);
    const shown = await api.call('GET', `/registration-tokens/${made.body.id}`);
    expect(shown.body).toMatchObject({ id: made.body.id, uses: 1, usesLeft: 1, state: 'active' });
    expect(shown.body).not.toHaveProperty('token');
    const listed = await api.call('GET', '/registration-tokens');
    expect(listed.body.items.map((t: { id: string }) => t.id)).toContain(made.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(made.body.token);

    const revoked = await api.call('POST', `/registration-tokens/${made.body.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: made.body.id, state: 'revoked', revoked: expect.any(String) });
    expect((await register(api.server.url, serviceMetadata(), made.body.token)).status).toBe(401);
    const audited = await api.server.gh.db('audit_log').where({ actor: 'key:tests', subject: made.body.id }).select('action');
    expect(audited.map((a: { action: string }) => a.action).sort()).toEqual(['registration_token.created', 'registration_token.revoked']);
  });

  it('refuses bad registration token input naming the field, and unknown ids with 404', async () => {
    const field = async (body: unknown) => (await api.call('POST', '/registration-tokens', { body })).body;
    expect(await field({ count: 0, expires: '7d' })).toMatchObject({ error: 'input.invalid', field: 'count' });
    expect(await field({ count: 1 })).toMatchObject({ error: 'input.invalid', field: 'expires' });
    expect(await field({ count: 1, expires: 'soon' })).toMatchObject({ error: 'input.invalid', field: 'expires' });
    expect(await field({ count: 1, expires: '2001-01-01' })).toMatchObject({ error: 'input.invalid', field: 'expires' });
    expect(await field({ count: 1, expires: '7d', grantTypes: ['password'] })).toMatchObject({ error: 'input.invalid', field: 'grantTypes' });
    expect(await field({ count: 1, expires: '7d', redirectHosts: ['https://x/'] })).toMatchObject({ error: 'input.invalid', field: 'redirectHosts' });
    expect((await api.call('POST', '/registration-tokens', { body: { count: 1, expires: '7d', aclTokenId: 'nope' } })).status).toBe(404);
    expect((await api.call('GET', '/registration-tokens/no-such-token')).status).toBe(404);
    expect((await api.call('POST', '/registration-tokens/no-such-token/revoke')).status).toBe(404);
  });

  it('creates a device token (the JWT once); a device enrolled with it is listed with its manufacturer id, and revoking it stops its client', async () => {
    const made = await api.call('POST', '/device-tokens', { body: { maxDevices: 2, expires: '30d', description: 'sensors' } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      maxDevices: 2,
      devices: 0,
      state: 'active',
      description: 'sensors',
      registrationUrl: `${api.server.url}/api/register-device`,
    });
    expect(made.body.token.split('.')).toHaveLength(3);
    const shown = await api.call('GET', `/device-tokens/${made.body.id}`);
    expect(shown.body).not.toHaveProperty('token');

    const manufacturerId = newManufacturerId();
    const enrolled = await enroll(api.server.url, { token: made.body.token, manufacturerId });
    expect(enrolled.status).toBe(201);
    const clientId = String(enrolled.body.clientId);
    expect((await clientCredentials(api.server.url, clientId, String(enrolled.body.clientSecret))).status).toBe(200);

    expect((await api.call('GET', `/device-tokens/${made.body.id}`)).body).toMatchObject({ devices: 1, state: 'active' });
    const devices = await api.call('GET', '/devices');
    expect(devices.status).toBe(200);
    expect(devices.body.items.find((d: { id: string }) => d.id === clientId)).toMatchObject({
      manufacturerId,
      path: 'device-token',
      tokenId: made.body.id,
      deviceTokenId: made.body.id,
      state: 'enabled',
      lastToken: expect.any(String),
    });

    const revoked = await api.call('POST', `/devices/${clientId}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: clientId, state: 'revoked', manufacturerId });
    expect((await clientCredentials(api.server.url, clientId, String(enrolled.body.clientSecret))).status).toBe(401);

    const stopped = await api.call('POST', `/device-tokens/${made.body.id}/revoke`);
    expect(stopped.body).toMatchObject({ id: made.body.id, state: 'revoked' });
    expect((await enroll(api.server.url, { token: made.body.token, manufacturerId: newManufacturerId() })).status).toBe(401);
  });

  it('refuses bad device token input naming the field, and unknown ids with 404', async () => {
    const field = async (body: unknown) => (await api.call('POST', '/device-tokens', { body })).body;
    expect(await field({ maxDevices: -1 })).toMatchObject({ error: 'input.invalid', field: 'maxDevices' });
    expect(await field({ maxDevices: 'ten' })).toMatchObject({ error: 'input.invalid', field: 'maxDevices' });
    expect(await field({ maxDevices: 99_999_999_999 })).toMatchObject({ error: 'input.invalid', field: 'maxDevices' });
    expect(await field({ expires: 'yesterday' })).toMatchObject({ error: 'input.invalid', field: 'expires' });
    expect(await field({ description: 'd'.repeat(501) })).toMatchObject({ error: 'input.invalid', field: 'description' });
    expect(await field({ clientTemplate: 'no-such-client' })).toMatchObject({ error: 'not_found', field: 'clientTemplate' });
    expect((await api.call('GET', '/device-tokens/no-such-token')).status).toBe(404);
    expect((await api.call('POST', '/device-tokens/no-such-token/revoke')).status).toBe(404);
    expect((await api.call('POST', '/devices/no-such-device/revoke')).status).toBe(404);
    expect((await api.call('POST', '/devices/service/revoke')).status).toBe(404);
  });
});

describe.each(databaseKinds)('admin API device tokens without deviceRegistration.jwt on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db);
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('refuses to make a device token with a 403 naming the config key, and still lists', async () => {
    const refused = await api.call('POST', '/device-tokens', { body: {} });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'forbidden', error_description: expect.stringMatching(/deviceRegistration\.jwt/) });
    expect((await api.call('GET', '/device-tokens')).body).toEqual({ items: [], nextCursor: null });
    expect((await api.call('GET', '/devices')).body).toEqual({ items: [], nextCursor: null });
  });
});
