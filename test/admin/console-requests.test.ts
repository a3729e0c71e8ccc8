/**
 * The console's requests and clients pages over HTTP on SQLite and
 * PostgreSQL, signed in as an admin the way a browser is (through Gatehouse's
 * own sign-in and back): a pending request shows who, which client, the
 * message and its age; Approve (for 7 days) from the page lets the requester
 * in; Deny goes through the confirmation page; decided ones show who decided.
 * Static clients are read-only ("from config.yaml"); a registered one is
 * given approvers from its page (they are asked to approve it), enabled,
 * disabled and deleted through the confirmation page. A POST without its CSRF
 * field is refused (403).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode } from '../helpers/http-login.ts';
import { register, registered, registrationConfig, webMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { signInToConsole } from '../helpers/console-login.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const password = 'a long enough password';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

describe.each(databaseKinds)('console requests and clients pages on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let admin: Browserless;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, {
      admins: ['root@example.com'],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      clients: [web],
      ...registrationConfig({ initialAccessToken: 'required' }),
    });
    await server.gh.users.createLocal({ email: 'root@example.com', name: 'Root', password }, 'test');
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
    return { status: response.status, location: response.headers.get('location') };
  };
  /** Opens a confirmation page and presses its button (the POST carries the page's CSRF field). */
  const confirm = async (path: string) => {
    const page = await get(path);
    expect(page.status).toBe(200);
    const action = /<form method="post" action="([^"]+)" class="confirm-form">/.exec(page.html)?.[1];
    expect(action).toBe(path);
    return post(action!, { _csrf: csrfOf(page.html) });
  };
  const mailsTo = async (to: string) => (await server.gh.db('mail_outbox').where({ to }).select('subject')).map((m: { subject: string }) => m.subject);

  it('shows a pending request with who, client, message and age; Approve for 7 days lets the requester in', async () => {
    const { gh } = server;
    const ann = await gh.users.createLocal({ email: 'ann@example.com', name: 'Ann Archer', password }, 'test');
    const subject = (await gh.users.get(ann.id)).identities[0]!.subject;
    const request = await gh.joinRequests.file({
      identity: { connectorId: 'local', subject, emailVerified: true },
      userId: ann.id,
      clientId: 'web',
      email: 'ann@example.com',
      name: 'Ann Archer',
      message: 'I joined the web team.',
    });
    // Not in yet.
    await expect(obtainCode(server.url, { clientId: 'web', redirectUri, email: 'ann@example.com', password })).rejects.toThrow(/403/);

    const list = await get('/admin/requests');
    expect(list.status).toBe(200);
    expect(list.html).toContain('Ann Archer asks for Web App');
    expect(list.html).toContain('ann@example.com');
    expect(list.html).toContain('I joined the web team.');
    expect(list.html).toContain('just now');
    expect(list.html).toContain('aria-current="page"');
    expect(list.html).toMatch(new RegExp(`<label for="for-${request.id}">Access lasts</label>`));
    for (const label of ['No end', '1 day', '7 days', '30 days', '90 days']) expect(list.html).toContain(`>${label}</option>`);
    const approve = `/admin/requests/${request.id}/approve`;
    expect(list.html).toContain(`action="${approve}"`);

    // No CSRF field: refused, nothing decided.
    expect((await post(approve, { for: '7d' })).status).toBe(403);
    expect((await gh.joinRequests.get(request.id)).status).toBe('pending');

    const before = Date.now();
    const done = await post(approve, { _csrf: csrfOf(list.html), for: '7d' });
    expect(done).toEqual({ status: 303, location: '/admin/requests' });
    const after = await get('/admin/requests');
    expect(after.html).toContain('The request is approved for 7 days');
    expect(after.html).toContain('No request waits for a decision.');
    expect(after.html).toContain('admin:root@example.com');
    const decided = await gh.joinRequests.get(request.id);
    expect(decided).toMatchObject({ status: 'approved', decided_by: 'admin:root@example.com' });
    const token = await gh.aclTokens.get(decided.acl_token_id!);
    expect(token.clients[0]!.expires_at).toBeGreaterThanOrEqual(before + 7 * 86_400_000);
    expect(after.html).toContain(new Date(token.clients[0]!.expires_at!).toISOString().slice(0, 10));

    // The requester gets in.
    const { code } = await obtainCode(server.url, { clientId: 'web', redirectUri, email: 'ann@example.com', password });
    expect(code).toBeTruthy();
    const audit = await gh.db('audit_log').where({ actor: 'admin:root@example.com', action: 'join_request.approved', subject: request.id });
    expect(audit).toHaveLength(1);
  });

  it('denies through the confirmation page, and says so when a request was decided already', async () => {
    const request = await server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `${kind}-newcomer`, emailVerified: true },
      clientId: 'web',
      email: 'newcomer@example.com',
      name: 'New Comer',
      message: '',
    });
    const list = await get('/admin/requests');
    expect(list.html).toContain('New Comer asks for Web App');
    expect(list.html).toContain('no message');
    const deny = `/admin/requests/${request.id}/deny`;
    expect(list.html).toContain(`href="${deny}"`);
    expect((await post(deny, { confirm: 'yes' })).status).toBe(403);
    const asked = await get(deny);
    expect(asked.html).toContain('<textarea id="confirm-note" name="note"');
    expect(await post(deny, { _csrf: csrfOf(asked.html), note: 'Please ask your team lead first' })).toEqual({ status: 303, location: '/admin/requests' });
    const denied = await server.gh.joinRequests.get(request.id);
    expect(denied.status).toBe('denied');
    expect(denied.decision_note).toBe('Please ask your team lead first');
    const after = await get('/admin/requests');
    expect(after.html).toContain('The request is denied');
    expect(after.html).toMatch(/badge-denied">denied</);
    expect(await mailsTo('newcomer@example.com')).toEqual(['Your request for Web App']);

    // Deciding again: told on the page, nothing changes.
    const again = await post(`/admin/requests/${request.id}/approve`, { _csrf: csrfOf(after.html) });
    expect(again).toEqual({ status: 303, location: '/admin/requests' });
    expect((await get('/admin/requests')).html).toContain('already been decided: it was denied by admin:root@example.com');
    expect((await get(deny)).location).toBe('/admin/requests');
    expect((await get('/admin/requests/no-such-request/deny')).status).toBe(404);
  });

  it('lists static clients as read-only from config.yaml and refuses to change them', async () => {
    const list = await get('/admin/clients');
    expect(list.status).toBe(200);
    expect(list.html).toContain('href="/admin/clients/web"');
    expect(list.html).toContain('from config.yaml');
    const page = await get('/admin/clients/web');
    expect(page.status).toBe(200);
    expect(page.html).toContain('from config.yaml (read-only');
    expect(page.html).not.toContain('/admin/clients/web/disable');
    expect(page.html).not.toContain('/admin/clients/web/delete');
    expect(page.html).not.toContain('name="approvers"');
    expect(page.html).not.toContain('web-secret');
    const refused = await post('/admin/clients/web/disable', { _csrf: csrfOf(page.html) });
    expect(refused).toEqual({ status: 303, location: '/admin/clients/web' });
    expect((await get('/admin/clients/web')).html).toContain('web is a static client');
    expect((await get('/admin/clients/web/delete')).location).toBe('/admin/clients/web');
    expect((await get('/admin/clients/nope')).status).toBe(404);
  });

  it('gives a registered client approvers, enables, disables and deletes it from its pages', async () => {
    const { row, token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 86_400_000, approval: true }, 'test');
    const made = registered(await register(server.url, webMetadata(redirectUri, { client_name: 'Team Wiki' }), token));
    const path = `/admin/clients/${made.client_id}`;

    const list = await get('/admin/clients');
    expect(list.html).toContain(`href="${path}"`);
    expect(list.html).toContain('disabled (approval)');
    const page = await get(path);
    expect(page.html).toContain('waits for approval');
    expect(page.html).toContain(row.id);
    expect(page.html).toContain('<label for="approvers">');
    expect(page.html).toContain('Enable client');
    expect(page.html).not.toContain(made.client_secret);

    expect((await post(`${path}/approvers`, { approvers: 'lead@example.com' })).status).toBe(403);
    const bad = await post(`${path}/approvers`, { _csrf: csrfOf(page.html), approvers: 'lead@example.com\nnot-an-email' });
    expect(bad).toEqual({ status: 303, location: path });
    expect((await get(path)).html).toContain('&quot;not-an-email&quot; is not an e-mail address');
    const saved = await post(`${path}/approvers`, { _csrf: csrfOf(page.html), approvers: 'lead@example.com\r\nsecond@example.com' });
    expect(saved).toEqual({ status: 303, location: path });
    const withApprovers = await get(path);
    expect(withApprovers.html).toContain('The approvers are saved');
    expect(withApprovers.html).toContain('lead@example.com, second@example.com');
    expect(await mailsTo('lead@example.com')).toContain('A new client waits for approval: Team Wiki');

    expect(await post(`${path}/enable`, { _csrf: csrfOf(withApprovers.html) })).toEqual({ status: 303, location: path });
    const enabled = await get(path);
    expect(enabled.html).toContain('The client is enabled.');
    expect(enabled.html).toContain(`href="${path}/disable"`);
    expect(await confirm(`${path}/disable`)).toEqual({ status: 303, location: path });
    expect((await server.gh.registrar.findRecord(made.client_id))?.disabled_reason).toBe('admin');
    expect((await get(path)).html).toContain('disabled by an admin');

    expect(await confirm(`${path}/delete`)).toEqual({ status: 303, location: '/admin/clients' });
    expect((await get('/admin/clients')).html).toContain(`The client ${made.client_id} is deleted.`);
    expect((await get(path)).status).toBe(404);
    const actions = await server.gh.db('audit_log').where({ actor: 'admin:root@example.com', subject: made.client_id }).select('action');
    expect(actions.map((a: { action: string }) => a.action)).toEqual(
      expect.arrayContaining(['client.approvers_set', 'client.enabled', 'client.disabled', 'client.deleted']),
    );
  });
});
