/**
 * The console's users pages over HTTP on SQLite and PostgreSQL, signed in as
 * an admin the way a browser is (the console sends it through Gatehouse's own
 * sign-in and back): search by e-mail or name, a user's identities and access
 * with the invitation that gives it, disabling from the page (after the
 * confirmation page; the user can no longer sign in), revoking one client's
 * access (the next authorization to it shows the gate, the other client
 * still signs in), deleting, and a POST without its CSRF field refused (403).
 * Send reset link: the mail is queued to the user's address, audited with the
 * admin as actor, and its link sets a new password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode } from '../helpers/http-login.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { signInToConsole } from '../helpers/console-login.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const password = 'a long enough password';
const clients = ['one', 'two'].map((id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789`,
  client_name: id === 'one' ? 'App One' : 'App Two',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
}));

describe.each(databaseKinds)('console users pages on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let admin: Browserless;
  const ids: Record<string, string> = {};
  const idOf = (key: string) => ids[key]!;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { admins: ['root@example.com'], firstauth: { enable: true, mode: 'manual' }, clients });
    const { gh } = server;
    const invitation = await gh.aclTokens.create({ maxUsers: 10, clients: ['one', 'two'], description: 'team' }, 'test');
    for (const [key, email, name] of [
      ['root', 'root@example.com', 'Root'],
      ['ann', 'ann@example.com', 'Ann Archer'],
      ['bob', 'bob@example.com', 'Bob Smith'],
      ['cat', 'cat@example.com', 'Cat Smithers'],
      ['dan', 'dan@example.com', 'Dan Reset'],
    ] as const) {
      const user = await gh.users.createLocal({ email, name, password }, 'test', (trx, u) => gh.gate.attachToken(trx, u.id, invitation.row.id, 'test'));
      ids[key] = user.id;
    }
    ids.invitation = invitation.row.id;
    admin = await signInToConsole(server.url, 'root@example.com', password);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const get = async (path: string, browser = admin) => {
    const response = await browser.request(`${server.url}${path}`);
    return { status: response.status, html: await response.text(), location: response.headers.get('location') };
  };
  /** Opens a confirmation page and presses its button (the POST carries the page's CSRF field). */
  const confirm = async (path: string) => {
    const page = await get(path);
    expect(page.status).toBe(200);
    const action = /<form method="post" action="([^"]+)" class="confirm-form">/.exec(page.html)?.[1];
    expect(action).toBe(path);
    const response = await admin.request(`${server.url}${action}`, { form: { _csrf: csrfOf(page.html) } });
    return { status: response.status, location: response.headers.get('location') };
  };
  const signIn = (email: string, clientId: string, browser?: Browserless) =>
    obtainCode(server.url, { clientId, redirectUri, email, password, scope: 'openid email', ...(browser ? { browser } : {}) });

  it('searches users by e-mail or name (any case) and lists everyone without a query', async () => {
    const smith = await get('/admin/users?q=SMITH');
    expect(smith.status).toBe(200);
    expect(smith.html).toContain('bob@example.com');
    expect(smith.html).toContain('cat@example.com');
    expect(smith.html).not.toContain('ann@example.com');
    expect(smith.html).toMatch(/<label for="q">/);
    const byMail = await get('/admin/users?q=ann%40');
    expect(byMail.html).toContain('ann@example.com');
    expect(byMail.html).not.toContain('bob@example.com');
    const everyone = await get('/admin/users');
    for (const email of ['root@', 'ann@', 'bob@', 'cat@']) expect(everyone.html).toContain(email);
    expect((await get('/admin/users?q=nobody-like-this')).html).toContain('contains “nobody-like-this”');
  });

  it('shows 50 users a page with links to the next and previous pages, the query kept', async () => {
    for (let n = 1; n <= 52; n += 1) await server.gh.users.createLocal({ email: `many${String(n).padStart(2, '0')}@example.com` }, 'test');
    const first = await get('/admin/users?q=many');
    expect(first.html).toContain('52 users match');
    expect(first.html).toContain('Page 1 of 2');
    expect(first.html).toContain('many50@example.com');
    expect(first.html).not.toContain('many51@example.com');
    const next = /href="([^"]+)" rel="next"/.exec(first.html)?.[1];
    expect(next).toBe('/admin/users?q=many&amp;page=2');
    const second = await get('/admin/users?q=many&page=2');
    expect(second.html).toContain('many52@example.com');
    expect(second.html).not.toContain('many50@example.com');
    expect(second.html).toContain('rel="prev"');
    expect((await get('/admin/users?q=many&page=99')).html).toContain('Page 2 of 2');
  });

  it("shows a user's identities and access per client with the invitation that gives it", async () => {
    const page = await get(`/admin/users/${ids.ann}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Ann Archer');
    expect(page.html).toMatch(/<td>local<\/td>/);
    expect(page.html).toContain('App One');
    expect(page.html).toContain('App Two');
    expect(page.html).toContain(`/admin/invitations/${ids.invitation}`);
    expect(page.html).toContain(`/admin/users/${ids.ann}/access/one/revoke`);
    expect((await get('/admin/users/no-such-user')).status).toBe(404);
  });

  it('disables a user from the page after asking: they can no longer sign in; enabling lets them back', async () => {
    await signIn('bob@example.com', 'one');
    const done = await confirm(`/admin/users/${ids.bob}/disable`);
    expect(done.status).toBe(303);
    expect(done.location).toBe(`/admin/users/${ids.bob}`);
    const shown = await get(done.location!);
    expect(shown.html).toContain('The user is disabled.');
    expect(shown.html).toContain('badge-disabled');
    await expect(signIn('bob@example.com', 'one')).rejects.toThrow(/unexpected 403/);
    const audit = await server.gh.db('audit_log').where({ action: 'user.disabled', subject: ids.bob }).first();
    expect(audit.actor).toBe('admin:root@example.com');

    const enable = await admin.request(`${server.url}/admin/users/${ids.bob}/enable`, { form: { _csrf: csrfOf(shown.html) } });
    expect(enable.status).toBe(303);
    await signIn('bob@example.com', 'one');
  });

  it("revokes one client's access: the next authorization to it shows the gate, the other client still signs in", async () => {
    const browser = new Browserless();
    await signIn('cat@example.com', 'one', browser);
    const done = await confirm(`/admin/users/${ids.cat}/access/one/revoke`);
    expect(done.status).toBe(303);
    const shown = await get(done.location!);
    expect(shown.html).toContain('Access to one is revoked.');
    expect(shown.html).not.toContain(`/admin/users/${ids.cat}/access/one/revoke`);
    expect(shown.html).toContain(`/admin/users/${ids.cat}/access/two/revoke`);

    // Same browser, still signed in to Gatehouse: the authorization to that client stops at the gate page.
    await expect(signIn('cat@example.com', 'one', browser)).rejects.toThrow(/unexpected 403/);
    const auth = new URLSearchParams({
      client_id: 'one',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    const gate = await browser.follow(`${server.url}/auth?${auth}`, server.url);
    expect(gate.response.status).toBe(403);
    const html = await gate.response.text();
    expect(html).toContain('name="acl_token"');
    expect(html).toContain('App One');
    await signIn('cat@example.com', 'two', browser);
    const audit = await server.gh.db('audit_log').where({ action: 'access.revoked', subject: ids.cat }).first();
    expect(audit.actor).toBe('admin:root@example.com');

    // Nothing left to revoke at that client: said on the user's page, not an error page.
    const again = await admin.request(`${server.url}/admin/users/${ids.cat}/access/one/revoke`, { form: { _csrf: csrfOf(shown.html) } });
    expect(again.status).toBe(303);
    expect((await get(`/admin/users/${ids.cat}`)).html).toContain('has no access to one');
  });

  it("sends a reset link from a user's page: mailed to their address, audited as the admin, and the link sets a new password", async () => {
    const page = await get(`/admin/users/${ids.dan}`);
    const action = `/admin/users/${ids.dan}/password-reset`;
    expect(page.html).toContain(`<form method="post" action="${action}"`);
    expect(page.html).toContain('Send reset link</button>');
    expect((await admin.request(`${server.url}${action}`, { form: { note: 'no csrf' } })).status).toBe(403);
    expect(await server.gh.db('mail_outbox').where({ to: 'dan@example.com' })).toHaveLength(0);

    const sent = await admin.request(`${server.url}${action}`, { form: { _csrf: csrfOf(page.html) } });
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toBe(`/admin/users/${ids.dan}`);
    expect((await get(`/admin/users/${ids.dan}`)).html).toContain('A reset link was sent to dan@example.com.');
    const audit = await server.gh.db('audit_log').where({ action: 'password.reset_requested', subject: ids.dan }).first();
    expect(audit.actor).toBe('admin:root@example.com');

    const [mail] = (await server.gh.db('mail_outbox').where({ to: 'dan@example.com' })) as { subject: string; text: string }[];
    expect(mail!.subject).toBe('Reset your password');
    const link = /http:\/\/\S+\/reset-password\/[A-Za-z0-9_-]+/.exec(mail!.text)?.[0];
    expect(link).toBeDefined();
    const person = new Browserless();
    const form = await person.request(link!);
    expect(form.status).toBe(200);
    const done = await person.request(link!, { form: { _csrf: csrfOf(await form.text()), password: 'dan new password here', again: 'dan new password here' } });
    expect(done.status).toBe(200);
    await expect(signIn('dan@example.com', 'one')).rejects.toThrow();
    await obtainCode(server.url, { clientId: 'one', redirectUri, email: 'dan@example.com', password: 'dan new password here', scope: 'openid email' });
  });

  it('refuses a POST without its CSRF field (403) and changes nothing', async () => {
    const response = await admin.request(`${server.url}/admin/users/${ids.ann}/disable`, { form: { reason: 'no csrf' } });
    expect(response.status).toBe(403);
    expect((await server.gh.users.get(idOf('ann'))).status).toBe('active');
  });

  it('deletes a user after asking and lands on the list', async () => {
    const done = await confirm(`/admin/users/${ids.ann}/delete`);
    expect(done.status).toBe(303);
    expect(done.location).toBe('/admin/users');
    const list = await get('/admin/users');
    expect(list.html).toContain('The user is deleted.');
    expect(list.html).not.toContain('ann@example.com');
  });
});
