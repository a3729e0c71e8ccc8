/**
 * The admin API's users routes on SQLite and PostgreSQL, with the API key the
 * config holds: list (paginated, searchable), show, create, set a password,
 * disable, enable, delete; bad input names the field, an unknown id is a 404,
 * no bearer or a wrong one a 401, and every change is audited as `key:<id>`.
 * Revoking one client's access (manual gating) keeps the rest and stops refresh.
 * Setting a password ends the user's refresh tokens and open reset links, as a
 * reset does; users.sendPasswordReset mails a reset link whose form sets a new one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { Browserless, csrfOf, obtainCode, tokenRequest } from '../helpers/http-login.ts';

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

  it("refuses to revoke one client's access while gating is off (every user reaches every client)", async () => {
    const made = await api.call('POST', '/users', { body: { email: 'open@example.com' } });
    expect(made.body.access).toEqual([{ client: '*', via: 'gating off', expires: null }]);
    const refused = await api.call('DELETE', `/users/${made.body.id}/access/web`);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('forbidden');
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

describe.each(databaseKinds)('admin API users.revokeAccess on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  const redirectUri = 'http://127.0.0.1:9/cb';
  const clients = ['one', 'two', 'three'].map((id) => ({
    client_id: id,
    client_secret: `${id}-secret-0123456789`,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
  }));

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { admins: ['root@example.com'], firstauth: { enable: true, mode: 'manual' }, clients });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it("ends one client's access, keeps the others the same invitation gave, and audits it", async () => {
    const { gh } = api.server;
    const shared = await gh.aclTokens.create({ maxUsers: 5, clients: ['one', 'two'] }, 'test');
    const personal = await gh.aclTokens.create({ maxUsers: 1, clients: ['one'] }, 'test');
    const made = await api.call('POST', '/users', { body: { email: 'cat@example.com', password: 'cat password 123', aclTokenId: shared.row.id } });
    const other = await api.call('POST', '/users', { body: { email: 'dan@example.com', aclTokenId: shared.row.id } });
    await gh.gate.attachToken(gh.db, made.body.id, personal.row.id, 'test');
    expect(await gh.gate.hasAccess(made.body.id, 'one')).toBe(true);
    const signedIn = await obtainCode(api.server.url, {
      clientId: 'one',
      redirectUri,
      email: 'cat@example.com',
      password: 'cat password 123',
      scope: 'openid offline_access',
      extra: { prompt: 'consent' },
    });
    const tokens = await tokenRequest(api.server.url, clients[0]!, {
      grant_type: 'authorization_code',
      code: signedIn.code,
      redirect_uri: redirectUri,
      code_verifier: signedIn.verifier,
    });
    expect(tokens.body.refresh_token).toEqual(expect.any(String));

    const revoked = await api.call('DELETE', `/users/${made.body.id}/access/one`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.access.map((a: { client: string }) => a.client)).toEqual(['two']);
    expect(revoked.body.access[0].aclTokenId).not.toBe(shared.row.id);
    expect(await gh.gate.hasAccess(made.body.id, 'one')).toBe(false);
    const refresh = await tokenRequest(api.server.url, clients[0]!, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    expect(refresh.body.error).toBe('invalid_grant');
    expect(await gh.gate.hasAccess(made.body.id, 'two')).toBe(true);
    // The others who hold the same invitation keep everything it gives.
    expect(await gh.gate.hasAccess(other.body.id, 'one')).toBe(true);
    const audit = await gh.db('audit_log').where({ action: 'access.revoked', subject: made.body.id }).first();
    expect(audit.actor).toBe('key:tests');
    expect(JSON.parse(audit.details)).toMatchObject({ client: 'one', aclTokens: expect.arrayContaining([shared.row.id, personal.row.id]) });

    // Nothing left to revoke, an unknown user or client: 404; the kept access can go too.
    expect((await api.call('DELETE', `/users/${made.body.id}/access/one`)).status).toBe(404);
    expect((await api.call('DELETE', `/users/no-such-user/access/one`)).status).toBe(404);
    expect((await api.call('DELETE', `/users/${made.body.id}/access/three`)).status).toBe(404);
    expect((await api.call('DELETE', `/users/${made.body.id}/access/two`)).body.access).toEqual([]);
  });
});

describe.each(databaseKinds)('admin API users.revokeAccess in auto mode on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, {
      firstauth: { enable: true, mode: 'auto' },
      clients: [{ client_id: 'one', client_secret: 'one-secret-0123456789', redirect_uris: ['http://127.0.0.1:9/cb'] }],
    });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('refuses access through the global token (the gate would link the user again) and changes nothing', async () => {
    const made = await api.call('POST', '/users', { body: { email: 'eve@example.com' } });
    expect(await api.server.gh.gate.hasAccess(made.body.id, 'one')).toBe(true);
    const refused = await api.call('DELETE', `/users/${made.body.id}/access/one`);
    expect(refused.status).toBe(403);
    expect(refused.body.error_description).toMatch(/auto mode/);
    expect(await api.server.gh.gate.hasAccess(made.body.id, 'one')).toBe(true);
  });
});

describe.each(databaseKinds)('admin API users passwords on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  const redirectUri = 'http://127.0.0.1:9/cb';
  const one = { client_id: 'one', client_secret: 'one-secret-0123456789', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'] };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { clients: [one] });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  /** Signs in to `one` with offline_access: a refresh token. */
  async function refreshTokenOf(email: string, password: string): Promise<string> {
    const signedIn = await obtainCode(api.server.url, {
      clientId: 'one',
      redirectUri,
      email,
      password,
      scope: 'openid offline_access',
      extra: { prompt: 'consent' },
    });
    const tokens = await tokenRequest(api.server.url, one, {
      grant_type: 'authorization_code',
      code: signedIn.code,
      redirect_uri: redirectUri,
      code_verifier: signedIn.verifier,
    });
    expect(tokens.body.refresh_token).toEqual(expect.any(String));
    return String(tokens.body.refresh_token);
  }
  const refresh = (token: string) => tokenRequest(api.server.url, one, { grant_type: 'refresh_token', refresh_token: token });
  /** The reset link in the newest queued mail to `email`. */
  async function resetLinkTo(email: string): Promise<string> {
    const rows = (await api.server.gh.db('mail_outbox').where({ to: email }).orderBy('id')) as { subject: string; text: string }[];
    const text = rows.filter((r) => r.subject === 'Reset your password').at(-1)?.text ?? '';
    const link = /http:\/\/\S+\/reset-password\/[A-Za-z0-9_-]+/.exec(text)?.[0];
    if (!link) throw new Error(`no reset link mailed to ${email}`);
    return link;
  }
  /** Opens a reset link and sends its form: the status of each. */
  async function useResetLink(link: string, password: string): Promise<{ opened: number; done: number; html: string }> {
    const browser = new Browserless();
    const page = await browser.request(link);
    const html = await page.text();
    if (page.status !== 200) return { opened: page.status, done: 0, html };
    const done = await browser.request(link, { form: { _csrf: csrfOf(html), password, again: password } });
    return { opened: page.status, done: done.status, html: await done.text() };
  }

  it("PUT /users/:id/password ends the user's refresh tokens and open reset links; the new password signs in", async () => {
    const made = await api.call('POST', '/users', { body: { email: 'fay@example.com', password: 'fay first password' } });
    const issued = await refreshTokenOf('fay@example.com', 'fay first password');
    const first = await refresh(issued);
    expect(first.status).toBe(200);
    // The token in use now (a rotated one, when the provider rotates): only the password change may end it.
    const token = String(first.body.refresh_token ?? issued);
    expect((await api.call('POST', `/users/${made.body.id}/password-reset`)).status).toBe(200);
    const link = await resetLinkTo('fay@example.com');

    const set = await api.call('PUT', `/users/${made.body.id}/password`, { body: { password: 'fay second password' } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: made.body.id, email: 'fay@example.com' });
    const refused = await refresh(token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    // The link mailed before the change no longer works.
    expect((await useResetLink(link, 'fay third password')).opened).toBe(410);
    await expect(refreshTokenOf('fay@example.com', 'fay first password')).rejects.toThrow();
    await refreshTokenOf('fay@example.com', 'fay second password');
    const audit = await api.server.gh.db('audit_log').where({ action: 'user.password_set', subject: made.body.id }).first();
    expect(audit.actor).toBe('key:tests');
    expect(JSON.parse(audit.details)).toEqual({ signInsEnded: true });
  });

  it('POST /users/:id/password-reset mails a reset link that sets a new password, audited as the API key', async () => {
    const made = await api.call('POST', '/users', { body: { email: 'gus@example.com', password: 'gus first password' } });
    const sent = await api.call('POST', `/users/${made.body.id}/password-reset`);
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual({ id: made.body.id, email: 'gus@example.com', sent: true });
    const used = await useResetLink(await resetLinkTo('gus@example.com'), 'gus brand new password');
    expect(used).toMatchObject({ opened: 200, done: 200 });
    await expect(refreshTokenOf('gus@example.com', 'gus first password')).rejects.toThrow();
    await refreshTokenOf('gus@example.com', 'gus brand new password');
    const audit = await api.server.gh.db('audit_log').where({ action: 'password.reset_requested', subject: made.body.id }).first();
    expect(audit.actor).toBe('key:tests');
    expect(JSON.parse(audit.details)).toMatchObject({ email: 'gus@example.com', mailed: true });
  });

  it('answers 404 for an unknown user and for a user without a local account', async () => {
    expect((await api.call('POST', '/users/no-such-user/password-reset')).status).toBe(404);
    const { gh } = api.server;
    const upstream = await gh.users.createFromIdentity(
      gh.db,
      { connectorId: 'upstream', subject: 'up-1', email: 'up@example.com', emailVerified: true },
      'test',
    );
    const refused = await api.call('POST', `/users/${upstream.id}/password-reset`);
    expect(refused.status).toBe(404);
    expect(refused.body.error_description).toMatch(/no local/);
    expect(await gh.db('mail_outbox').where({ to: 'up@example.com' })).toHaveLength(0);
  });
});
