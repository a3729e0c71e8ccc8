/**
 * The admin API's users routes on SQLite and PostgreSQL, with the API key the
 * config holds: list (paginated, searchable), show, create, set a password,
 * disable, enable, delete; bad input names the field, an unknown id is a 404,
 * no bearer or a wrong one a 401, and every change is audited as `key:<id>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';

describe.each(databaseKinds)('admin API users on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { admins: ['root@example.com'] });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('creates a user with a password, shows it with identities and access, and lists it', async () => {
    const made = await api.call('POST', '/users', { body: { email: 'ann@example.com', name: 'Ann', password: 'correct horse battery' } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ email: 'ann@example.com', name: 'Ann', status: 'active', hasPassword: true });
    expect(made.body.identities).toEqual([expect.objectContaining({ connector: 'local', email: 'ann@example.com' })]);
    expect(made.body).not.toHaveProperty('password');
    const shown = await api.call('GET', `/users/${made.body.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body.id).toBe(made.body.id);
    const listed = await api.call('GET', '/users?q=ANN');
    expect(listed.body.items.map((u: { email: string }) => u.email)).toEqual(['ann@example.com']);
    expect(listed.body.nextCursor).toBeNull();
  });

  it('pages through the users with limit and cursor, each once', async () => {
    for (const n of [1, 2, 3, 4, 5]) await api.call('POST', '/users', { body: { email: `page${n}@example.com` } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await api.call('GET', `/users?q=page&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(answer.status).toBe(200);
      expect(answer.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...answer.body.items.map((u: { email: string }) => u.email));
      cursor = answer.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['page1@example.com', 'page2@example.com', 'page3@example.com', 'page4@example.com', 'page5@example.com']);
    expect((await api.call('GET', '/users?limit=201')).body).toMatchObject({ error: 'input.invalid', field: 'limit' });
    expect((await api.call('GET', '/users?cursor=nonsense')).body).toMatchObject({ error: 'input.invalid', field: 'cursor' });
  });

  it('disables, enables and deletes a user, auditing each as the API key', async () => {
    const made = await api.call('POST', '/users', { body: { email: 'bob@example.com' } });
    expect(made.body.hasPassword).toBe(false);
    expect((await api.call('POST', `/users/${made.body.id}/disable`)).body.status).toBe('disabled');
    expect((await api.call('POST', `/users/${made.body.id}/enable`)).body.status).toBe('active');
    expect((await api.call('PUT', `/users/${made.body.id}/password`, { body: { password: 'a new password here' } })).status).toBe(200);
    expect((await api.call('DELETE', `/users/${made.body.id}`)).body).toEqual({ id: made.body.id, deleted: true });
    expect((await api.call('GET', `/users/${made.body.id}`)).status).toBe(404);
    const actions = await api.server.gh.db('audit_log').where({ actor: 'key:tests' }).select('action');
    expect(actions.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['user.disabled', 'user.deleted']));
  });

  it('names the field at fault, answers 404 for unknown ids, 409 for a taken e-mail', async () => {
    const bad = await api.call('POST', '/users', { body: { email: 'not-an-email' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'input.invalid', field: 'email' });
    expect((await api.call('POST', '/users', { body: '{"email":' })).status).toBe(400);
    expect((await api.call('POST', '/users', { body: [1, 2] })).status).toBe(400);
    expect((await api.call('GET', '/users/no-such-user')).status).toBe(404);
    expect((await api.call('POST', '/users/no-such-user/disable')).status).toBe(404);
    await api.call('POST', '/users', { body: { email: 'twice@example.com' } });
    expect((await api.call('POST', '/users', { body: { email: 'twice@example.com' } })).status).toBe(409);
  });

  it('refuses calls without a bearer, with cookies only, or with an unknown key', async () => {
    const none = await api.call('GET', '/users', { bearer: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await api.call('GET', '/users', { bearer: null, headers: { cookie: 'gh.session=x; gh.admin=y' } })).status).toBe(401);
    expect((await api.call('GET', '/users', { bearer: `${api.key.slice(0, -3)}abc` })).status).toBe(401);
    expect((await api.call('GET', '/users', { bearer: 'ghk_tests_short' })).status).toBe(401);
  });
});
