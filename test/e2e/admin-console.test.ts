/**
 * The admin console end to end, in real headless Chromium with the sample
 * relying party (openid-client) as the app people sign in to: an admin is sent
 * to Gatehouse's own sign-in page and lands on the dashboard; approves a join
 * request with one click and the requester gets in; makes an invitation, which
 * a second browser redeems, then revokes it and the redeemed user is refused;
 * disables a user, who can no longer sign in; enables a registered client held
 * for approval; makes a registration token and a device token whose shown
 * secrets register a client and enroll a device; a signed-in non-admin gets
 * the plain 403 page.
 *
 * Every console page is checked on the way (test/helpers/console.ts): lang,
 * title, no sideways scrolling at 390 px, every section link on screen at
 * 390 px with the current one marked, no browser console errors (CSP
 * refusals) or failed loads, axe-core WCAG 2.1 A/AA without serious or
 * critical violations; the last test fails with every page's problems at
 * once. With GATEHOUSE_SCREENSHOTS=DIR each page is drawn at 1280 and 390
 * wide there (console-<page>-<width>.png, axe-findings.json beside them).
 * Presentation does not depend on the database: SQLite only.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { ConsoleInspector, signInHere, signInToConsole, type Person } from '../helpers/console.ts';
import { deviceJwtIssuer, deviceJwtSecret, enroll } from '../helpers/devices.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { clientCredentials, register, registered, serviceMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const day = 86_400_000;

/** Every console page the flows below pass through, by the name its screenshots take. */
const everyPage = [
  'dashboard',
  'requests',
  'requests-decided',
  'invitations',
  'invitation-new',
  'invitation-created',
  'invitation-detail',
  'confirm',
  'users',
  'user-detail',
  'confirm-disable',
  'clients',
  'client-detail',
  'registration-tokens',
  'registration-token-new',
  'registration-token-created',
  'device-tokens',
  'device-token-new',
  'device-token-created',
  'devices',
  'audit',
  'keys',
  'dashboard-with-data',
  'forbidden',
];

describe.skipIf(!chromiumAvailable())('the admin console in Chromium', () => {
  let db: TestDatabase;
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;
  /** The admin's browser, 1280 wide (the inspector narrows it to 390 for its checks). */
  let adminContext: BrowserContext;
  let page: Page;
  const inspector = new ConsoleInspector(process.env.GATEHOUSE_SCREENSHOTS);
  const admin: Person = { email: 'admin@example.com', password: 'admin-password-0123' };
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    server = await startTestServer(db, {
      admins: [admin.email],
      connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }],
      clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      registration: { enabled: true, initialAccessToken: 'required' },
      deviceRegistration: { enabled: true, jwt: { secret: deviceJwtSecret, issuer: deviceJwtIssuer } },
    });
    await rp.connect(server.url);
    await server.gh.users.createLocal({ email: admin.email, name: 'Ada Admin', password: admin.password }, 'test');
    browser = await launchBrowser();
    adminContext = await context();
    page = inspector.watch(await adminContext.newPage());
  });

  afterAll(async () => {
    const found = inspector.report();
    console.log(`console pages checked: ${inspector.seen.join(', ')}\naxe findings below serious:\n${found || '(none)'}`);
    await browser?.close();
    await rp?.stop();
    await server?.stop();
    await db?.drop();
  });

  const consoleUrl = (path = '') => `${server.url}/admin${path}`;

  /** A fresh browser context, 1280 wide, that gives up on a missing element after 10 s (not playwright's 30). */
  async function context(): Promise<BrowserContext> {
    const made = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    made.setDefaultTimeout(10_000);
    return made;
  }

  /** Opens a console page in the admin's browser, expects a 200, and inspects it. */
  async function open(path: string, name: string): Promise<void> {
    const response = await page.goto(consoleUrl(path));
    expect(response?.status(), `GET /admin${path}`).toBe(200);
    await inspector.inspect(page, name);
  }

  /** A person with a verified local account and no Gatehouse user yet (nobody let them in). */
  async function newcomer(): Promise<Person & { name: string }> {
    n += 1;
    const who = { email: `newcomer${n}@example.com`, password: `password-of-${n}-xyz`, name: `Newcomer ${n}` };
    await insertLocalAccount(server.gh.db, {
      id: `local-newcomer-${n}`,
      email: who.email,
      name: who.name,
      password_hash: await server.gh.passwords.hash(who.password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return who;
  }

  /** Signs in at the relying party in a browser page (Gatehouse's sign-in page, consent if asked). */
  async function signInAtApp(p: Page, who: Person): Promise<void> {
    await p.goto(`${rp.url}/login`);
    await signInHere(p, who);
  }

  async function landsAtApp(p: Page, who: Person): Promise<void> {
    await p.waitForSelector('#who');
    expect(await p.textContent('#who')).toBe(who.email);
  }

  it('sends a signed-out admin to the sign-in page, and shows the dashboard after it', async () => {
    await signInToConsole(page, server.url, admin);
    expect(new URL(page.url()).pathname).toMatch(/^\/admin\/?$/);
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await inspector.inspect(page, 'dashboard');
  });

  let requester: Person & { name: string };
  let requesterContext: BrowserContext;

  it('approves a pending join request with one click, and the requester then gets in through the app', async () => {
    requester = await newcomer();
    requesterContext = await context();
    const p = await requesterContext.newPage();
    await signInAtApp(p, requester);
    await p.getByRole('link', { name: 'Ask to join' }).click();
    await p.getByLabel('Message').fill('I am the new intern.');
    await p.getByRole('button', { name: 'Send request' }).click();
    await p.getByRole('heading', { name: 'Request sent' }).waitFor();
    expect(await server.gh.joinRequests.list('pending')).toHaveLength(1);

    await open('/requests', 'requests');
    await page.getByRole('button', { name: `Approve the request of ${requester.name}` }).click();
    await page.getByRole('heading', { name: 'Decided' }).waitFor();
    expect(await server.gh.joinRequests.list('pending')).toHaveLength(0);
    await inspector.inspect(page, 'requests-decided');

    await signInAtApp(p, requester);
    await landsAtApp(p, requester);
  });

  let invited: Person & { name: string };
  let invitedPage: Page;

  it('makes an invitation whose link a second browser redeems, then revokes it: the redeemed user is refused', async () => {
    await open('/invitations', 'invitations');
    await page.getByRole('link', { name: 'New invitation' }).click();
    await page.getByRole('heading', { name: 'New invitation' }).waitFor();
    await inspector.inspect(page, 'invitation-new');
    await page.getByRole('checkbox', { name: /Web App/ }).check();
    await page.getByLabel('Maximum users').fill('1');
    await page.getByLabel(/^Description/).fill('For the new colleague');
    await page.getByRole('button', { name: 'Create invitation' }).click();
    const link = (await page.locator('#invite-link').textContent())?.trim() ?? '';
    expect(link, 'the created page shows the invitation link').toMatch(/^http:\/\/127\.0\.0\.1:\d+\/invite\/[A-Za-z0-9_-]+$/);
    expect(link.startsWith(`${server.url}/invite/`)).toBe(true);
    await inspector.inspect(page, 'invitation-created');

    invited = await newcomer();
    const second = await context();
    invitedPage = await second.newPage();
    await invitedPage.goto(link);
    expect(await invitedPage.textContent('main')).toContain('Web App');
    await signInAtApp(invitedPage, invited);
    await landsAtApp(invitedPage, invited);

    await page.getByRole('link', { name: 'Done' }).click();
    await page.getByRole('link', { name: 'Revoke invitation' }).waitFor();
    expect(await page.textContent('main')).toContain(invited.email);
    await inspector.inspect(page, 'invitation-detail');
    await page.getByRole('link', { name: 'Revoke invitation' }).click();
    await page.locator('form.confirm-form').waitFor();
    await inspector.inspect(page, 'confirm');
    await page.locator('form.confirm-form').getByRole('button').click();
    await page.waitForURL((url) => !url.pathname.endsWith('/revoke'));
    expect(await page.textContent('main')).toMatch(/revoked/i);

    const before = rp.signIns.length;
    await invitedPage.goto(`${rp.url}/login`);
    // A known user whose invitation is revoked: the gate page says so, and no code reaches the app.
    const refused = invitedPage.getByRole('heading', { name: 'No access to Web App' });
    await invitedPage.getByLabel('E-mail address').or(refused).waitFor();
    if (await invitedPage.getByLabel('E-mail address').isVisible()) await signInHere(invitedPage, invited);
    await refused.waitFor();
    expect(new URL(invitedPage.url()).origin).toBe(server.url);
    expect(rp.signIns.length).toBe(before);
  });

  it('disables a user after asking, and that user can no longer sign in', async () => {
    await open('/users', 'users');
    await page.getByRole('link', { name: requester.email }).click();
    await page.getByRole('link', { name: 'Disable user' }).waitFor();
    await inspector.inspect(page, 'user-detail');
    await page.getByRole('link', { name: 'Disable user' }).click();
    await page.locator('form.confirm-form').waitFor();
    await inspector.inspect(page, 'confirm-disable');
    await page.locator('form.confirm-form').getByRole('button').click();
    await page.getByRole('button', { name: 'Enable user' }).waitFor();

    const fresh = await context();
    const p = await fresh.newPage();
    const before = rp.signIns.length;
    await signInAtApp(p, requester);
    await p.getByText('This account has been disabled. Contact your administrator.').waitFor();
    expect(rp.signIns.length).toBe(before);
    await fresh.close();
  });

  it('enables a registered client held for approval', async () => {
    const { token } = await server.gh.registrationTokens.create(
      { count: 2, expiresAt: Date.now() + day, approval: true, description: 'Sensors in hall B' },
      'test',
    );
    const made = registered(await register(server.url, serviceMetadata({ client_name: 'Hall B Sensor' }), token));
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(401);

    await open('/clients', 'clients');
    await page.getByRole('link', { name: 'Hall B Sensor' }).click();
    await page.getByRole('button', { name: 'Enable client' }).waitFor();
    await inspector.inspect(page, 'client-detail');
    await page.getByRole('button', { name: 'Enable client' }).click();
    await page.getByRole('link', { name: 'Disable client' }).waitFor();
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);
  });

  it('makes a registration token and a device token through their forms, and their secrets work; shows devices, the audit log and the keys', async () => {
    await open('/registration-tokens', 'registration-tokens');
    await page.getByRole('link', { name: 'New registration token' }).click();
    await page.getByRole('heading', { name: 'New registration token' }).waitFor();
    await inspector.inspect(page, 'registration-token-new');
    await page.getByLabel('Number of clients').fill('3');
    await page.getByLabel(/^Description/).fill('Lab printers');
    await page.getByRole('button', { name: 'Create registration token' }).click();
    await page.getByRole('heading', { name: 'Registration token created' }).waitFor();
    const registrationToken = (await page.locator('#secret').textContent())?.trim() ?? '';
    await inspector.inspect(page, 'registration-token-created');
    registered(await register(server.url, serviceMetadata({ client_name: 'Lab Printer' }), registrationToken));

    await open('/device-tokens', 'device-tokens');
    await page.getByRole('link', { name: 'New device token' }).click();
    await page.getByRole('heading', { name: 'New device token' }).waitFor();
    await inspector.inspect(page, 'device-token-new');
    await page.getByLabel('Number of devices').fill('5');
    await page.getByLabel(/^Description/).fill('Thermostats, batch 7');
    await page.getByRole('button', { name: 'Create device token' }).click();
    await page.getByRole('heading', { name: 'Device token created' }).waitFor();
    const deviceToken = (await page.locator('#secret').textContent())?.trim() ?? '';
    expect(deviceToken.split('.')).toHaveLength(3);
    await inspector.inspect(page, 'device-token-created');
    expect((await enroll(server.url, { token: deviceToken, manufacturerId: 'THERMO-0007' })).status).toBe(201);

    await open('/devices', 'devices');
    expect(await page.textContent('main')).toContain('THERMO-0007');
    await open('/audit', 'audit');
    await open('/keys', 'keys');
    // The dashboard again, now with requests decided, refusals and enrolments to show.
    await open('', 'dashboard-with-data');
  });

  it('gives a signed-in non-admin the plain 403 page', async () => {
    const plain = { email: 'plain@example.com', password: 'plain-password-0123' };
    await server.gh.users.createLocal({ ...plain, name: 'Plain User' }, 'test');
    const fresh = await context();
    const p = inspector.watch(await fresh.newPage());
    await p.goto(consoleUrl());
    await signInHere(p, plain);
    await p.waitForLoadState();
    const again = await p.goto(consoleUrl());
    expect(again?.status()).toBe(403);
    expect(await p.textContent('body')).not.toContain('Dashboard');
    await inspector.inspect(p, 'forbidden', { navigation: false });
    await fresh.close();
  });

  it('every console page has a language and a title, fits 390 px with its navigation, draws no browser errors, and has no serious or critical axe violation', () => {
    expect(inspector.seen).toEqual(expect.arrayContaining(everyPage));
    expect(inspector.problems).toEqual([]);
  });
});
