/**
 * First-auth gating as people live it, in real Chromium with the sample
 * relying party and a real SMTP server, on SQLite and PostgreSQL: an invitation
 * from the authorization request, from an invitation link, typed on the gate
 * page; a join request approved from the mail; a denied one.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const linkIn = (body: string, path: string) => new RegExp(`https?://[^\\s"<>]+/${path}/[A-Za-z0-9_-]+`).exec(body)?.[0];

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('gating in the browser on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let rp: RelyingParty;
  let smtp: TestSmtp;
  let browser: Browser;
  let n = 0;
  /** Moves Gatehouse's clock (invitation expiry) without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    server = await startTestServer(
      db,
      {
        connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }],
        clients: [
          { ...testClients.web, redirect_uris: [rp.redirectUri] },
          { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: ['http://127.0.0.1:9/cb'] },
        ],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        mailer: { host: '127.0.0.1', port: smtp.port },
      },
      { clock },
    );
    await rp.connect(server.url);
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.stop();
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  /** A person with a verified local account but no Gatehouse user yet (nobody let them in). */
  async function newcomer(): Promise<{ email: string; password: string }> {
    n += 1;
    const email = `newcomer${n}@example.com`;
    const password = `password-of-${n}-xyz`;
    const { insertLocalAccount } = await import('../../src/db/repos/users.ts');
    await insertLocalAccount(server.gh.db, {
      id: `local-${kind}-${n}`,
      email,
      name: `Newcomer ${n}`,
      password_hash: await server.gh.passwords.hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return { email, password };
  }

  async function signIn(page: Page, who: { email: string; password: string }, query = ''): Promise<void> {
    await page.goto(`${rp.url}/login${query}`);
    await page.getByLabel('E-mail address').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
  }

  async function consentAndLand(page: Page, who: { email: string }): Promise<void> {
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe(who.email);
  }

  const invitation = async (maxUsers = 1, clients = ['web']) => server.gh.aclTokens.create({ maxUsers, clients }, 'test');

  it('lets a first login in with the acl_token of the authorization request, and counts the use', async () => {
    const who = await newcomer();
    const { row, token } = await invitation();
    const page = await browser.newPage();
    await signIn(page, who, `?acl_token=${token}`);
    await consentAndLand(page, who);
    const details = await server.gh.aclTokens.get(row.id);
    expect(details.uses).toBe(1);
    expect(details.users).toHaveLength(1);
    await page.close();
  });

  it('accepts the Dex-style AclToken parameter too', async () => {
    const who = await newcomer();
    const { token } = await invitation();
    const page = await browser.newPage();
    await signIn(page, who, `?AclToken=${token}`);
    await consentAndLand(page, who);
    await page.close();
  });

  it('remembers an invitation link opened earlier in the browser, and does not use it until the login completes', async () => {
    const who = await newcomer();
    const { row, token } = await invitation();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/invite/${token}`);
    expect(await page.textContent('main')).toContain('Web App');
    if (shots) await page.screenshot({ path: `${shots}/invite-${kind}.png`, fullPage: true });
    expect((await server.gh.aclTokens.get(row.id)).uses).toBe(0);
    await signIn(page, who);
    await consentAndLand(page, who);
    expect((await server.gh.aclTokens.get(row.id)).uses).toBe(1);
    await context.close();
  });

  it('stops a first login without a token at the gate page, where a typed token lets it in', async () => {
    const who = await newcomer();
    const { token } = await invitation();
    const page = await browser.newPage();
    await signIn(page, who);
    await page.getByRole('heading', { name: 'An invitation is needed' }).waitFor();
    if (shots) await page.screenshot({ path: `${shots}/gate-${kind}.png`, fullPage: true });
    expect(await server.gh.users.lookup({ connectorId: 'local', subject: `local-${kind}-${n}`, emailVerified: true })).toBeUndefined();
    await page.getByLabel('Invitation code or link').fill('gha_not-a-real-token');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await page.getByRole('alert').textContent()).toContain('This invitation was not found');
    await page.getByLabel('Invitation code or link').fill(`${server.url}/invite/${token}`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await consentAndLand(page, who);
    await page.close();
  });

  it('says plainly when an invitation is used up, expired, revoked or for another client', async () => {
    const used = await invitation(1);
    const first = await newcomer();
    const page = await browser.newPage();
    await signIn(page, first, `?acl_token=${used.token}`);
    await consentAndLand(page, first);
    const expired = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'], expiresAt: clock.now() + 60_000 }, 'test');
    const revoked = await invitation(1);
    await server.gh.aclTokens.revoke(revoked.row.id, 'test');
    const otherClient = await invitation(1, ['other']);
    skew += 61_000;
    const cases: [string, string][] = [
      [used.token, 'This invitation has been used by the maximum number of people.'],
      [expired.token, 'This invitation has expired.'],
      [revoked.token, 'This invitation has been revoked.'],
      [otherClient.token, 'This invitation does not give access to Web App.'],
    ];
    for (const [token, message] of cases) {
      const context = await browser.newContext();
      const p = await context.newPage();
      await signIn(p, await newcomer(), `?acl_token=${token}`);
      expect(await p.getByRole('alert').textContent()).toBe(message);
      await context.close();
    }
    await page.close();
  });

  it('files a join request, mails the approver, and lets the person in after approval from the mail', async () => {
    const who = await newcomer();
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, who);
    await page.getByRole('link', { name: 'Ask to join' }).click();
    expect(await page.getByLabel('E-mail address for the answer').inputValue()).toBe(who.email);
    await page.getByLabel('Message').fill('I am the new intern.');
    if (shots) await page.screenshot({ path: `${shots}/join-${kind}.png`, fullPage: true });
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.getByRole('heading', { name: 'Request sent' }).waitFor();

    const mail = await smtp.waitFor((m) => m.to.includes('boss@example.com') && m.subject.includes(who.email.split('@')[0]!.replace('newcomer', 'Newcomer ')));
    expect(mail.body).toContain('I am the new intern.');
    const approve = linkIn(mail.body, 'approval')!;
    // The approver's browser: the confirmation page acts only on its POST.
    const approver = await browser.newContext();
    const approverPage = await approver.newPage();
    await approverPage.goto(approve);
    await approverPage.getByRole('heading', { name: 'Approve this request?' }).waitFor();
    if (shots) await approverPage.screenshot({ path: `${shots}/approval-${kind}.png`, fullPage: true });
    expect((await server.gh.joinRequests.list('pending')).length).toBeGreaterThan(0);
    await approverPage.getByRole('button', { name: 'Approve' }).click();
    await approverPage.getByRole('heading', { name: 'Request approved' }).waitFor();
    await approver.close();

    const invite = await smtp.waitFor((m) => m.to.includes(who.email) && m.subject.startsWith('You can now use'));
    expect(linkIn(invite.body, 'invite')).toBeTruthy();
    // The same identity signs in again and is let in without typing anything.
    await signIn(page, who);
    await consentAndLand(page, who);
    await context.close();
  });

  it('sends a polite refusal when the request is denied', async () => {
    const who = await newcomer();
    const page = await browser.newPage();
    await signIn(page, who);
    await page.getByRole('link', { name: 'Ask to join' }).click();
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.getByRole('heading', { name: 'Request sent' }).waitFor();
    const mail = await smtp.waitFor((m) => m.to.includes('boss@example.com') && m.body.includes(who.email));
    const deny = linkIn(mail.body.slice(mail.body.indexOf('Deny')), 'approval')!;
    const res = await fetch(deny);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())![1]!;
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const posted = await fetch(deny, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrf}` });
    expect(posted.status).toBe(200);
    const refusal = await smtp.waitFor((m) => m.to.includes(who.email));
    expect(refusal.subject).toBe('Your request for Web App');
    expect(refusal.body).toContain('not approved');
    await page.close();
  });
});
