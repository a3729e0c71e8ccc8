/**
 * The console's registration tokens, device tokens, devices, audit log and
 * signing keys pages over HTTP on SQLite and PostgreSQL, signed in as an
 * admin the way a browser is: a registration token made from the form is
 * shown once (with its copy button) and never again, a bad count is said on
 * the form (400); revoking asks first and the token stops registering; a
 * device token made from the form enrolls a device, which the devices page
 * lists with its manufacturer id and revokes (it leaves the list); the audit log filters by actor,
 * action and time, links subjects to their pages and says which instant is
 * wrong; keys rotate after asking, and the last active key is refused (409);
 * a POST without its CSRF field is refused (403) and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { deviceConfig, enroll, newManufacturerId } from '../helpers/devices.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { clientCredentials, register, serviceMetadata } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { signInToConsole } from '../helpers/console-login.ts';

const password = 'a long enough password';

describe.each(databaseKinds)('console token, device, audit and key pages on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let admin: Browserless;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, deviceConfig({}, { admins: ['root@example.com'], registration: { enabled: true } }));
    await server.gh.users.createLocal({ email: 'root@example.com', password }, 'test');
    admin = await signInToConsole(server.url, 'root@example.com', password);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const get = async (path: string) => {
    const response = await admin.request(`${server.url}${path}`);
    return { status: response.status, html: await response.text(), location: response.headers.get('location') };
  };
  const post = async (path: string, form: Record<string, string>) => {
    const response = await admin.request(`${server.url}${path}`, { form });
    return { status: response.status, html: await response.text(), location: response.headers.get('location') };
  };
  /** Opens a confirmation page and presses its button (the POST carries the page's CSRF field). */
  const confirm = async (path: string) => {
    const page = await get(path);
    expect(page.status).toBe(200);
    const action = /<form method="post" action="([^"]+)" class="confirm-form">/.exec(page.html)?.[1];
    expect(action).toBe(path);
    return post(action!, { _csrf: csrfOf(page.html) });
  };

  let tokenId = '';
  let secret = '';

  it('creates a registration token from the form and shows it once, with a copy button', async () => {
    const form = await get('/admin/registration-tokens/new');
    expect(form.status).toBe(200);
    expect(form.html).toMatch(/<label for="count">/);
    const csrf = csrfOf(form.html);

    const bad = await post('/admin/registration-tokens', { _csrf: csrf, count: '0', expires: '7d' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('Number of clients:');
    expect(bad.html).toContain('aria-invalid="true"');

    const made = await post('/admin/registration-tokens', {
      _csrf: csrf,
      count: '2',
      expires: '7d',
      grantTypes: 'client_credentials',
      description: 'lab devices',
    });
    expect(made.status).toBe(200);
    secret = /<p class="secret mono" id="secret">(ghr_[^<]+)<\/p>/.exec(made.html)?.[1] ?? '';
    expect(secret).toMatch(/^ghr_/);
    expect(made.html).toContain('data-copy="secret"');
    tokenId = (await server.gh.registrationTokens.list()).find((t) => t.description === 'lab devices')!.id;

    expect((await register(server.url, serviceMetadata(), secret)).status).toBe(201);
    const list = await get('/admin/registration-tokens');
    expect(list.html).toContain('lab devices');
    expect(list.html).toContain('1 of 2 used');
    expect(list.html).toContain('badge-active');
    expect(list.html).not.toContain(secret);
  });

  it('revokes the registration token after asking: the list says so and the token no longer registers', async () => {
    const done = await confirm(`/admin/registration-tokens/${tokenId}/revoke`);
    expect(done.status).toBe(303);
    expect(done.location).toBe('/admin/registration-tokens');
    const list = await get(done.location!);
    expect(list.html).toContain('The registration token is revoked.');
    expect(list.html).toContain('badge-revoked');
    expect(list.html).not.toContain(`/admin/registration-tokens/${tokenId}/revoke`);
    expect((await register(server.url, serviceMetadata(), secret)).status).toBe(401);
    expect((await get('/admin/registration-tokens/no-such-token/revoke')).status).toBe(404);
  });

  it('creates a device token from the form; the device enrolled with it is listed with its manufacturer id and revoked', async () => {
    const form = await get('/admin/device-tokens/new');
    const made = await post('/admin/device-tokens', { _csrf: csrfOf(form.html), maxDevices: '3', expires: '30d', description: 'sensors', clientTemplate: '' });
    expect(made.status).toBe(200);
    const jwt = /<p class="secret mono" id="secret">([^<]+)<\/p>/.exec(made.html)?.[1] ?? '';
    expect(jwt.split('.')).toHaveLength(3);
    expect(made.html).toContain('data-copy="secret"');
    const tokens = await get('/admin/device-tokens');
    expect(tokens.html).toContain('0 of 3 devices');
    expect(tokens.html).not.toContain(jwt);

    const manufacturerId = newManufacturerId();
    const device = await enroll(server.url, { token: jwt, manufacturerId });
    expect(device.status).toBe(201);
    const clientId = String(device.body.clientId);
    expect((await get('/admin/device-tokens')).html).toContain('1 of 3 devices');
    const devices = await get('/admin/devices');
    expect(devices.html).toContain(manufacturerId);
    expect(devices.html).toContain(`/admin/devices/${clientId}/revoke`);

    const done = await confirm(`/admin/devices/${clientId}/revoke`);
    expect(done.status).toBe(303);
    const after = await get('/admin/devices');
    expect(after.html).toContain('The device is revoked');
    expect(after.html).not.toContain(`/admin/devices/${clientId}/revoke`);
    expect((await clientCredentials(server.url, clientId, String(device.body.clientSecret))).status).toBe(401);
  });

  it('filters the audit log by actor, action and time, newest first, linking subjects to their pages', async () => {
    const later = await server.gh.users.createLocal({ email: 'later@example.com', password }, 'test');
    const created = await server.gh.db('audit_log').where({ action: 'user.created', subject: later.id }).first();
    const mine = await get('/admin/audit?actor=admin%3Aroot%40example.com&action=registration_token.*');
    expect(mine.status).toBe(200);
    expect(mine.html).toMatch(/<label for="actor">/);
    const actions = [...mine.html.matchAll(/<td><code>([a-z_.]+)<\/code><\/td>/g)].map((m) => m[1]);
    expect(actions).toEqual(['registration_token.revoked', 'registration_token.created']);

    const recent = await get(`/admin/audit?from=${encodeURIComponent(new Date(Number(created.at)).toISOString())}`);
    expect(recent.html).toContain(`href="/admin/users/${later.id}"`);
    expect(recent.html).not.toContain('registration_token.created');
    // The device enrolled above was revoked since: its client has no page any more, so its entry links nowhere.
    const devices = await get('/admin/audit?action=device.enrolled');
    expect(devices.html).toContain('device.enrolled');
    expect(devices.html).not.toMatch(/href="\/admin\/clients\/[^"]+"/);
    // A client that exists is linked.
    const clientEntries = await get('/admin/audit?action=client.*');
    expect(clientEntries.html).toMatch(/href="\/admin\/clients\/[^"]+"/);

    const bad = await get('/admin/audit?from=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('From:');
    expect((await get('/admin/audit?actor=nobody')).html).toContain('No entries match this filter.');
    // What a browser's datetime-local field sends: minutes, read as UTC.
    expect((await get('/admin/audit?to=2000-01-01T00%3A00')).html).toContain('No entries match this filter.');
    expect((await get('/admin/audit?to=2999-01-01T00%3A00')).html).toContain('registration_token.created');
  });

  it('rotates the keys after asking and refuses to revoke the last active key of an algorithm (409)', async () => {
    const before = await get('/admin/keys');
    expect(before.html.match(/active \(signs\)/g)).toHaveLength(2);
    const done = await confirm('/admin/keys/rotate');
    expect(done.status).toBe(303);
    const after = await get('/admin/keys');
    expect(after.html).toContain('New signing keys:');
    expect(after.html.match(/active \(signs\)/g)).toHaveLength(2);
    expect(after.html.match(/retired \(published only\)/g)).toHaveLength(2);

    const active = (await server.gh.keys.list()).find((k) => k.alg === 'RS256' && k.state === 'active')!.kid;
    const page = await get(`/admin/keys/${active}/revoke`);
    const refused = await post(`/admin/keys/${active}/revoke`, { _csrf: csrfOf(page.html) });
    expect(refused.status).toBe(409);
    expect(refused.html).toContain('keys rotate');
    expect((await server.gh.keys.list()).map((k) => k.kid)).toContain(active);
    const rotated = await server.gh.db('audit_log').where({ action: 'keys.rotated' }).first();
    expect(rotated.actor).toBe('admin:root@example.com');
  });

  it('refuses POSTs without their CSRF field (403) and changes nothing', async () => {
    const before = (await server.gh.registrationTokens.list()).length;
    expect((await post('/admin/registration-tokens', { count: '1', expires: '7d' })).status).toBe(403);
    expect((await server.gh.registrationTokens.list()).length).toBe(before);
    const kids = (await server.gh.keys.list()).map((k) => k.kid);
    expect((await post('/admin/keys/rotate', { button: 'rotate' })).status).toBe(403);
    expect((await server.gh.keys.list()).map((k) => k.kid)).toEqual(kids);
    expect((await post('/admin/device-tokens', { maxDevices: '1' })).status).toBe(403);
  });
});
