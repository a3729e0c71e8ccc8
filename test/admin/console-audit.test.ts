/**
 * Console sign-ins and sign-outs in the audit log, over HTTP on SQLite and
 * PostgreSQL: an admin's sign-in is `admin.signed_in` (actor
 * `admin:<email>`, subject their user id), their sign-out `admin.signed_out`;
 * a non-admin (or an admin whose e-mail is unverified) turned away at the
 * callback is `admin.refused` (actor `user:<id>`, their e-mail and the reason
 * in the details, `during: 'sign-in'`), and so is an admin who stops being
 * one, at their next request (`during: 'session'`). A sign-out without a
 * session, or refused for its CSRF value, records nothing. The console's
 * audit page shows the entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchAudit, type AuditEvent } from '../../src/audit/audit.ts';
import { consoleSignIn, signInToConsole } from '../helpers/console-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const password = 'a long enough password';

describe.each(databaseKinds)('console sign-ins in the audit log on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, {
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      clients: [{ ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] }],
      admins: ['root@example.com', 'unverified@example.com', 'later@example.com'],
    });
    for (const email of ['root@example.com', 'someone@example.com', 'unverified@example.com', 'later@example.com']) {
      ids[email] = (await server.gh.users.createLocal({ email, password }, 'test')).id;
    }
    await server.gh.db('user').where({ email: 'unverified@example.com' }).update({ email_verified: false });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** The console's entries (admin.*), oldest first. */
  const entries = async (): Promise<AuditEvent[]> => (await searchAudit(server.gh.db, { action: 'admin.*' }, 1000)).reverse();
  const signOut = async (browser: Browserless, form: Record<string, string>) => browser.request(`${server.url}/admin/logout`, { form });

  it('records an admin signing in and out, as admin:<email> about their user id', async () => {
    const before = (await entries()).length;
    const browser = await signInToConsole(server.url, 'root@example.com', password);
    const signedIn = (await entries()).slice(before);
    expect(signedIn).toEqual([expect.objectContaining({ actor: 'admin:root@example.com', action: 'admin.signed_in', subject: ids['root@example.com'] })]);

    const html = await (await browser.request(`${server.url}/admin`)).text();
    // A sign-out refused for its CSRF value ends nothing and records nothing.
    expect((await signOut(browser, { _csrf: 'not-the-value-0123456789' })).status).toBe(403);
    expect((await entries()).length).toBe(before + 1);
    expect((await signOut(browser, { _csrf: csrfOf(html) })).status).toBe(303);
    const out = (await entries()).slice(before + 1);
    expect(out).toEqual([expect.objectContaining({ actor: 'admin:root@example.com', action: 'admin.signed_out', subject: ids['root@example.com'] })]);
    // Signing out again, with no session left: nothing more.
    expect((await signOut(browser, { _csrf: csrfOf(html) })).status).toBe(303);
    expect((await entries()).length).toBe(before + 2);
  });

  it('records a non-admin turned away at sign-in as admin.refused, with the reason', async () => {
    const before = (await entries()).length;
    const { callback } = await consoleSignIn(server.url, 'someone@example.com', password);
    expect(callback.status).toBe(403);
    const refused = (await entries()).slice(before);
    expect(refused).toEqual([
      expect.objectContaining({
        actor: `user:${ids['someone@example.com']}`,
        action: 'admin.refused',
        subject: ids['someone@example.com'],
        details: { email: 'someone@example.com', reason: expect.stringContaining('administrators'), during: 'sign-in' },
      }),
    ]);
  });

  it('records an admin whose e-mail is unverified as refused, and no sign-in', async () => {
    const before = (await entries()).length;
    const { callback } = await consoleSignIn(server.url, 'unverified@example.com', password);
    expect(callback.status).toBe(403);
    expect((await entries()).slice(before)).toEqual([
      expect.objectContaining({
        action: 'admin.refused',
        subject: ids['unverified@example.com'],
        details: expect.objectContaining({ reason: expect.stringContaining('verified e-mail'), during: 'sign-in' }),
      }),
    ]);
  });

  it('records the refusal of an admin who stopped being one, when their session ends', async () => {
    const browser = await signInToConsole(server.url, 'later@example.com', password);
    const before = (await entries()).length;
    await server.gh.db('user').where({ email: 'later@example.com' }).update({ status: 'disabled' });
    expect((await browser.request(`${server.url}/admin`)).status).toBe(403);
    expect((await entries()).slice(before)).toEqual([
      expect.objectContaining({ actor: `user:${ids['later@example.com']}`, action: 'admin.refused', details: expect.objectContaining({ during: 'session' }) }),
    ]);
    // The session is gone: the next request is sent to sign in, and records nothing more.
    expect((await browser.request(`${server.url}/admin`)).status).toBe(302);
    expect((await entries()).length).toBe(before + 1);
  });

  it('shows the entries on the console audit page', async () => {
    const browser = await signInToConsole(server.url, 'root@example.com', password);
    const html = await (await browser.request(`${server.url}/admin/audit?action=${encodeURIComponent('admin.*')}`)).text();
    expect(html).toContain('admin.signed_in');
    expect(html).toContain('admin.signed_out');
    expect(html).toContain('admin.refused');
    expect(html).toContain(`/admin/users/${ids['someone@example.com']}`);
  });
});
