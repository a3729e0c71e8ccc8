/**
 * Registration tokens with approval (SPEC 5), over HTTP with a real SMTP
 * server, on SQLite and PostgreSQL: the registration succeeds but the client
 * is held; the approver (firstauth.mailer.receiver) gets a mail with an enable
 * link; opening the link (GET, HEAD: what mail scanners do) changes nothing;
 * the confirmation page's POST with its CSRF pair enables the client, once;
 * an admin enabling the client first retires the link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { clientCredentials, count, register, registered, registrationConfig, serviceMetadata } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';

const approver = 'boss@example.com';
const day = 86_400_000;

describe.each(databaseKinds)('clients held for approval on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(db, {
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: approver } },
      mailer: { host: '127.0.0.1', port: smtp.port },
      ...registrationConfig({ initialAccessToken: 'required' }),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  const enableLinkIn = (mail: ReceivedMail): string => {
    const link = new RegExp(`(${server.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/approval/client/[A-Za-z0-9_-]+)`).exec(mail.body)?.[1];
    if (!link) throw new Error(`no enable link in mail "${mail.subject}": ${mail.body.slice(0, 800)}`);
    return link;
  };
  const mailFor = (name: string) => smtp.waitFor((m) => m.to.includes(approver) && m.subject.includes(name));
  const stillHeld = async (made: { client_id: string; client_secret: string }) => {
    const refused = await clientCredentials(server.url, made.client_id, made.client_secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    expect((await server.gh.registrar.findRecord(made.client_id))?.disabled_reason).toBe('approval');
  };

  it('holds the client, mails the approver an enable link, changes nothing on GET and HEAD, and enables it on the confirmed POST, once', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 2, expiresAt: Date.now() + day, approval: true }, 'test');
    const made = registered(await register(server.url, serviceMetadata({ client_name: 'Sensor Needing Approval' }), token));
    await stillHeld(made);

    const mail = await mailFor('Sensor Needing Approval');
    expect(mail.subject).toBe('A new client waits for approval: Sensor Needing Approval');
    expect(mail.body).toContain(made.client_id);
    const link = enableLinkIn(mail);

    // Mail scanners and previews: nothing happens.
    for (let i = 0; i < 3; i += 1) {
      const got = await fetch(link, { redirect: 'manual' });
      const html = await got.text();
      expect(got.status).toBe(200);
      expect(html).toContain('Enable this client?');
      expect(html).toContain('Sensor Needing Approval');
      expect(html).toContain('Nothing has happened yet');
      expect((await fetch(link, { method: 'HEAD', redirect: 'manual' })).status).toBe(200);
    }
    await stillHeld(made);

    // A POST without the page's CSRF pair is refused and changes nothing.
    const browser = new Browserless();
    const page = await browser.request(link);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain(`Deciding as ${approver}`);
    const csrf = csrfOf(html);
    expect(csrf).not.toBe('');
    const noCookie = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrf}` });
    expect(noCookie.status).toBe(403);
    const noField = await browser.request(link, { form: { note: 'no csrf' } });
    expect(noField.status).toBe(403);
    await stillHeld(made);

    const enabled = await browser.request(link, { form: { _csrf: csrf } });
    expect(enabled.status).toBe(200);
    expect(await enabled.text()).toContain('Sensor Needing Approval');
    expect((await server.gh.registrar.findRecord(made.client_id))?.disabled_reason).toBeNull();
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);
    const audit = (await server.gh.db('audit_log').where({ subject: made.client_id, action: 'client.enabled' }).first()) as { actor: string } | undefined;
    expect(audit?.actor).toBe(approver);

    // The same form again, and the link opened again: used.
    const again = await browser.request(link, { form: { _csrf: csrf } });
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect(again.status).toBeLessThan(500);
    expect(await again.text()).toContain('already been used');
    const reopened = await fetch(link);
    expect(reopened.status).toBeGreaterThanOrEqual(400);
    expect(reopened.status).toBeLessThan(500);
  });

  it('retires the link when an admin enables the client first, and refuses an unknown link', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day, approval: true }, 'test');
    const made = registered(await register(server.url, serviceMetadata({ client_name: 'Enabled By Admin' }), token));
    const link = enableLinkIn(await mailFor('Enabled By Admin'));
    const browser = new Browserless();
    const csrf = csrfOf(await (await browser.request(link)).text());
    await server.gh.registrar.setEnabled(made.client_id, true, 'test');
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);
    const late = await browser.request(link, { form: { _csrf: csrf } });
    expect(late.status).toBeGreaterThanOrEqual(400);
    expect(late.status).toBeLessThan(500);

    const unknown = await fetch(`${server.url}/approval/client/${'x'.repeat(43)}`);
    expect(unknown.status).toBeGreaterThanOrEqual(400);
    expect(unknown.status).toBeLessThan(500);
    expect(await unknown.text()).toContain('This link is not valid');
  });

  it('mails nobody for a client made with a token without approval', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
    const made = registered(await register(server.url, serviceMetadata({ client_name: 'No Approval Needed' }), token));
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);
    // Every due mail has gone out (or nothing was queued): a mail for this client would be in by now.
    await server.gh.sender.drained();
    expect(smtp.received.filter((m) => m.subject.includes('No Approval Needed'))).toEqual([]);
    expect(await count(server.gh, 'client_approval_link', { client_id: made.client_id })).toBe(0);
  });
});
