/**
 * The console's invitations pages over HTTP on SQLite and PostgreSQL, signed
 * in as an admin the way a browser is (through Gatehouse's own sign-in): the
 * list with state badges and "N of M used"; the create form (client picker,
 * presets, dates) whose answer shows the invite link once, with a copy button
 * and a QR code drawn without style attributes, while the invitation's page
 * (reloaded) never shows it; refusals shown on the form, naming the field;
 * a person who used the invitation listed on its page; revoking after the
 * confirmation page; a POST without its CSRF field refused (403).
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

/** A form body with repeated fields (`clients`), as a browser sends checkboxes. */
async function postForm(browser: Browserless, url: string, fields: [string, string][]): Promise<Response> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { cookie: browser.jar.header(url), accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  browser.jar.store(response);
  return response;
}

describe.each(databaseKinds)('console invitations pages on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let admin: Browserless;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { admins: ['root@example.com'], firstauth: { enable: true, mode: 'manual' }, clients });
    const { gh } = server;
    // The admin is let in by the console's own client; an invitation for the clients is no part of that.
    await gh.users.createLocal({ email: 'root@example.com', name: 'Root', password }, 'test');
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
  /** Opens the create form and sends it with `fields` (and the form's CSRF field unless `csrf` is false). */
  const create = async (fields: [string, string][], csrf = true) => {
    const form = await get('/admin/invitations/new');
    expect(form.status).toBe(200);
    const response = await postForm(admin, `${server.url}/admin/invitations`, [...(csrf ? [['_csrf', csrfOf(form.html)] as [string, string]] : []), ...fields]);
    return { status: response.status, html: await response.text() };
  };

  it('offers every client in the form, with labelled fields and the presets', async () => {
    const form = await get('/admin/invitations/new');
    expect(form.html).toMatch(/<input type="checkbox" id="client-1" name="clients" value="one">/);
    expect(form.html).toMatch(/name="clients" value="two"/);
    expect(form.html).toContain('App One');
    expect(form.html).toContain('name="_csrf"');
    for (const id of ['maxUsers', 'expiresDate', 'clientExpiresDate', 'description']) expect(form.html).toContain(`<label for="${id}">`);
    for (const preset of ['1 day', '1 week', '1 month']) expect(form.html).toContain(`in ${preset}`);
    expect(form.html).not.toMatch(/style=/);
  });

  it('creates an invitation from the form: the link once with a copy button and a QR code; the detail page never shows it', async () => {
    const made = await create([
      ['clients', 'one'],
      ['clients', 'two'],
      ['maxUsers', '5'],
      ['expires', '30d'],
      ['clientExpires', '90d'],
      ['description', 'Team <b>blue</b>'],
    ]);
    expect(made.status, made.html.slice(0, 500)).toBe(200);
    const link = /<p class="secret mono" id="invite-link">([^<]+)<\/p>/.exec(made.html)?.[1];
    expect(link).toMatch(new RegExp(`^${server.url}/invite/gha_[A-Za-z0-9_-]{43}$`));
    expect(made.html).toContain('<button type="button" class="button primary" data-copy="invite-link">');
    const svg = /<svg[^>]*>[\s\S]*?<\/svg>/.exec(made.html)?.[0] ?? '';
    expect(svg).toMatch(/^<svg role="img" aria-label="QR code of the invitation link" width="240" height="240"/);
    expect(svg).toContain('<path');
    expect(made.html).not.toMatch(/style=/);
    expect(made.html).not.toMatch(/<script(?! src=)/);
    expect(made.html).toContain('Team &lt;b&gt;blue&lt;/b&gt;');
    expect(made.html).toContain('App One, App Two');

    const token = link!.split('/invite/')[1]!;
    const row = (await server.gh.aclTokens.list()).find((t) => t.description === 'Team <b>blue</b>')!;
    expect(row).toMatchObject({ max_users: 5, created_by: 'admin:root@example.com' });
    const detailUrl = /<a class="button" href="([^"]+)">Done<\/a>/.exec(made.html)?.[1];
    expect(detailUrl).toBe(`/admin/invitations/${row.id}`);
    const detail = await get(detailUrl!);
    expect(detail.status).toBe(200);
    expect(detail.html).toContain('0 of 5 used');
    expect(detail.html).toContain('badge-active');
    expect(detail.html).toContain('App Two');
    expect(detail.html).toContain('Nobody has used it yet.');
    expect(detail.html).not.toContain(token);
    expect(detail.html).not.toContain('/invite/');
    expect(detail.html).not.toContain('<svg');
    const list = await get('/admin/invitations');
    expect(list.html).toContain(`/admin/invitations/${row.id}`);
    expect(list.html).toContain('0 of 5 used');
    expect(list.html).not.toContain(token);

    // The link works: a person signs in with it, and shows up on the invitation's page.
    await server.gh.users.createLocal({ email: 'guest@example.com', name: 'Guest Person', password }, 'test');
    await obtainCode(server.url, { clientId: 'one', redirectUri, email: 'guest@example.com', password, extra: { acl_token: token } });
    const used = await get(detailUrl!);
    expect(used.html).toContain('1 of 5 used');
    expect(used.html).toContain('guest@example.com');
    expect(used.html).toContain('Guest Person');
    expect(used.html).not.toContain(token);
  });

  it('takes a custom date and the defaults; shows refusals on the form, naming the field, creating nothing', async () => {
    const date = new Date(Date.now() + 20 * 86_400_000).toISOString().slice(0, 10);
    const made = await create([
      ['clients', 'one'],
      ['maxUsers', '1'],
      ['expires', 'custom'],
      ['expiresDate', date],
      ['clientExpires', 'none'],
    ]);
    expect(made.status).toBe(200);
    expect(made.html).toContain(`${date} 00:00 UTC`);
    expect(made.html).toContain('1 person');

    const before = (await server.gh.aclTokens.list()).length;
    const noClient = await create([
      ['maxUsers', '2'],
      ['expires', '1w'],
    ]);
    expect(noClient.status).toBe(400);
    expect(noClient.html).toContain('Clients: choose at least one client');
    const unknown = await create([
      ['clients', 'nope'],
      ['maxUsers', '2'],
    ]);
    expect(unknown.status).toBe(400);
    expect(unknown.html).toContain('Clients: no client with id nope');
    const badNumber = await create([
      ['clients', 'one'],
      ['maxUsers', 'lots'],
    ]);
    expect(badNumber.status).toBe(400);
    expect(badNumber.html).toContain('Maximum users: enter a whole number (0 for no limit)');
    expect(badNumber.html).toContain('aria-invalid="true"');
    // What was typed stays in the form.
    expect(badNumber.html).toMatch(/name="clients" value="one" checked/);
    const noDate = await create([
      ['clients', 'one'],
      ['maxUsers', '2'],
      ['expires', 'custom'],
    ]);
    expect(noDate.html).toContain('Invitation expires: choose a date');
    const past = await create([
      ['clients', 'one'],
      ['maxUsers', '2'],
      ['expires', 'custom'],
      ['expiresDate', '2020-01-01'],
    ]);
    expect(past.status).toBe(400);
    expect(past.html).toContain('Invitation expires: &quot;2020-01-01&quot; lies in the past');
    expect((await server.gh.aclTokens.list()).length).toBe(before);
  });

  it('refuses a POST without its CSRF field (403), creating nothing', async () => {
    const before = (await server.gh.aclTokens.list()).length;
    const refused = await create(
      [
        ['clients', 'one'],
        ['maxUsers', '2'],
      ],
      false,
    );
    expect(refused.status).toBe(403);
    expect((await server.gh.aclTokens.list()).length).toBe(before);
    const row = (await server.gh.aclTokens.list())[0]!;
    const revoke = await postForm(admin, `${server.url}/admin/invitations/${row.id}/revoke`, []);
    expect(revoke.status).toBe(403);
    expect((await server.gh.aclTokens.get(row.id)).revoked_at).toBeNull();
  });

  it('revokes an invitation after the confirmation page; the list and its page say revoked', async () => {
    const row = (await server.gh.aclTokens.list()).find((t) => t.description === 'Team <b>blue</b>')!;
    const path = `/admin/invitations/${row.id}/revoke`;
    const detail = await get(`/admin/invitations/${row.id}`);
    expect(detail.html).toContain(`href="${path}"`);
    const confirm = await get(path);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Revoke this invitation?');
    expect(confirm.html).toContain('the person who used it lose the access');
    const action = /<form method="post" action="([^"]+)" class="confirm-form">/.exec(confirm.html)?.[1];
    expect(action).toBe(path);
    const done = await admin.request(`${server.url}${action}`, { form: { _csrf: csrfOf(confirm.html) } });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`/admin/invitations/${row.id}`);
    const shown = await get(`/admin/invitations/${row.id}`);
    expect(shown.html).toContain('The invitation is revoked.');
    expect(shown.html).toContain('badge-revoked');
    expect(shown.html).not.toContain(`href="${path}"`);
    const revoked = await get('/admin/invitations?state=revoked');
    expect(revoked.html).toContain(`/admin/invitations/${row.id}`);
    expect(revoked.html).toContain('badge-revoked');
    expect((await get('/admin/invitations?state=active')).html).not.toContain(`/admin/invitations/${row.id}"`);
    const audit = await server.gh.db('audit_log').where({ actor: 'admin:root@example.com', action: 'acl_token.revoked', subject: row.id });
    expect(audit).toHaveLength(1);
    expect((await get('/admin/invitations/no-such-invitation')).status).toBe(404);
    expect((await get('/admin/invitations/no-such-invitation/revoke')).status).toBe(404);
  });
});
