/**
 * Self sign-up with the local connector, as a person does it in real headless
 * Chromium: from the relying party's sign-in, "Create an account", the mailed
 * confirmation link (through a real SMTP server; opening it shows a page whose
 * button confirms), then signing in at the app. Plus the refusals: unconfirmed
 * address, a used link (it says "already confirmed"), a link only opened (as a mail scanner does), bad input,
 * sign-up off, and forged form posts (CSRF). On SQLite and PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';

const shots = '/tmp/shots';
const localWithSignup = { id: 'local', type: 'local', name: 'Email', signup: true };

/** The confirmation link in a verification mail (the text part comes first). */
function linkIn(mail: ReceivedMail, issuer: string): string {
  const escaped = issuer.replace(/[.]/g, '\\.');
  const link = new RegExp(`${escaped}/verify-email/[A-Za-z0-9_.-]+(?:\\?return_to=[A-Za-z0-9%._~-]+)?`).exec(mail.body)?.[0];
  if (!link) throw new Error(`no confirmation link in mail: ${mail.body.slice(0, 800)}`);
  return link;
}

/** Opens a confirmation link and presses its button, as the person does; ends on the "E-mail confirmed" page. */
async function confirmAddress(page: Page, link: string, shot?: string): Promise<void> {
  expect((await page.goto(link))?.status()).toBe(200);
  await page.waitForSelector('h1:has-text("Confirm your e-mail address")');
  if (shot) await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  const [posted] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/verify-email/') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Confirm my address' }).click(),
  ]);
  expect(posted.status()).toBe(200);
  await page.waitForSelector('h1:has-text("E-mail confirmed")');
}

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('self sign-up in a browser on %s', (kind) => {
  let db: TestDatabase;
  let smtp: TestSmtp;
  let server: TestServer;
  let closed: TestServer;
  let rp: RelyingParty;
  let browser: Browser;
  let counter = 0;
  const newEmail = (label: string) => `${label}-${kind}-${(counter += 1)}@example.com`;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    const raw = { clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }], mailer: { host: '127.0.0.1', port: smtp.port } };
    server = await startTestServer(db, { ...raw, connectors: [localWithSignup] });
    // A second instance on the same database with sign-up switched off.
    closed = await startTestServer(db, { ...raw, connectors: [{ ...localWithSignup, signup: false }] });
    await rp.connect(server.url);
    browser = await launchBrowser();
    mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await rp?.stop();
    await closed?.stop();
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  /** From the app's sign-in to the "check your e-mail" page; returns the confirmation link from the mail. */
  async function signUp(page: Page, person: { name: string; email: string; password: string }, shot?: string): Promise<string> {
    await page.goto(`${rp.url}/login`);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForSelector('h1:has-text("Create an account")');
    if (shot) await page.screenshot({ path: `${shots}/signup-${shot}-${kind}.png`, fullPage: true });
    await page.getByLabel('Your name').fill(person.name);
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel(/^Password/).fill(person.password);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/signup') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create account' }).click(),
    ]);
    expect(response.status()).toBe(200);
    await page.waitForSelector('h1:has-text("Check your e-mail")');
    expect(await page.textContent('main')).toContain(person.email);
    if (shot) await page.screenshot({ path: `${shots}/signup-sent-${shot}-${kind}.png`, fullPage: true });
    const mail = await smtp.waitFor((m) => m.to.includes(person.email));
    expect(mail.subject).toBe('Confirm your e-mail address');
    expect(mail.body).toContain(`Hello ${person.name},`);
    return linkIn(mail, server.url);
  }

  it('creates an account from the sign-in page, confirms it by the mailed link and signs in at the app', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const person = { name: 'Grace Hopper', email: newEmail('grace'), password: 'cobol-compiler-1959' };
    const link = await signUp(page, person, 'flow');
    expect(link).toContain('?return_to=%2Finteraction%2F');

    await confirmAddress(page, link, `verify-email-confirm-1280-${kind}`);
    expect(await page.textContent('main')).toContain(person.email);
    await page.screenshot({ path: `${shots}/email-verified-${kind}.png`, fullPage: true });

    const resume = page.getByRole('link', { name: 'Continue signing in' });
    // Back to the sign-in with the address filled in.
    expect(await resume.getAttribute('href')).toMatch(/^\/interaction\/[A-Za-z0-9_-]+\?login_hint=[^&]+$/);
    await resume.click();
    await page.waitForSelector('h1:has-text("Sign in")');
    expect(await page.getByLabel('E-mail address').inputValue()).toBe(person.email);
    expect(await page.textContent('main')).toContain('Web App');
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.waitForSelector('text=Allow access?');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe(person.email);
    expect(rp.signIns.at(-1)?.userinfo).toMatchObject({ email: person.email, email_verified: true, name: person.name });
    await context.close();
  });

  it('refuses to sign in before the address is confirmed, and lets the person in after', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const person = { name: 'Ada Byron', email: newEmail('early'), password: 'difference-engine' };
    const link = await signUp(page, person);

    await page.goto(`${rp.url}/login`);
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
      page.getByRole('button', { name: /Sign in/ }).click(),
    ]);
    expect(refused.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toContain('Confirm your e-mail address first');
    await page.screenshot({ path: `${shots}/login-unconfirmed-${kind}.png`, fullPage: true });

    await confirmAddress(page, link);
    await page.getByRole('link', { name: 'Continue signing in' }).click();
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe(person.email);
    await context.close();
  });

  it('confirms the address when the link is opened in another browser, and continuing there gives a clear page', async () => {
    const context = await browser.newContext();
    const link = await signUp(await context.newPage(), { name: 'Two Devices', email: newEmail('phone'), password: 'opened-on-my-phone' });
    await context.close();

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await phone.newPage();
    await confirmAddress(page, link, `verify-email-confirm-390-${kind}`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await page.textContent('main')).toContain('Started signing in on another device?');
    await page.screenshot({ path: `${shots}/email-verified-phone-${kind}.png`, fullPage: true });
    const [resumed] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/interaction/')),
      page.getByRole('link', { name: 'Continue signing in' }).click(),
    ]);
    // This browser has no sign-in under way: a plain 4xx page, not a crash.
    expect(resumed.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('opened in another browser');
    await phone.close();
  });

  it('fits the sign-up form on a phone screen without sideways scrolling', async () => {
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const page = await phone.newPage();
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Your name').fill('A Person With A Rather Long Name Indeed');
    await page.screenshot({ path: `${shots}/signup-phone-${kind}.png`, fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const button = await page.getByRole('button', { name: 'Create account' }).boundingBox();
    expect(button!.x).toBeGreaterThanOrEqual(0);
    expect(button!.x + button!.width).toBeLessThanOrEqual(360);
    await phone.close();
  });

  it('answers a second use of a confirmation link with "already confirmed" and the way to sign in, a made-up link with a plain 400 page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = newEmail('once');
    const link = await signUp(page, { name: 'Once Only', email, password: 'single-use-link' });
    await confirmAddress(page, link);
    const again = await page.goto(link);
    expect(again?.status()).toBe(200);
    await page.waitForSelector('h1:has-text("Already confirmed")');
    expect(await page.textContent('main')).toContain(email);
    expect(await page.textContent('main')).not.toContain('Sign up again');
    expect(await page.getByRole('link', { name: 'Continue signing in' }).getAttribute('href')).toMatch(/^\/interaction\/[A-Za-z0-9_-]+\?login_hint=/);
    await page.screenshot({ path: `${shots}/email-verify-used-${kind}.png`, fullPage: true });
    // A made-up token is refused, with a way to get a new link.
    expect((await page.goto(`${server.url}/verify-email/not-a-real-token`))?.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('This confirmation link is invalid, already used or expired');
    expect(await page.textContent('main')).not.toContain('Something went wrong on our side');
    expect(await page.getByRole('button', { name: 'Send it again' }).count()).toBe(1);
    await context.close();
  });

  it('re-renders the form with a message and status 400 for a too-short password, keeping name and e-mail', async () => {
    const page = await browser.newPage();
    const email = newEmail('short');
    await page.goto(`${rp.url}/login`);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Your name').fill('Short Password');
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel(/^Password/).fill('seven7!');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/signup') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create account' }).click(),
    ]);
    expect(response.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('at least 8 characters');
    expect(await page.getByLabel('Your name').inputValue()).toBe('Short Password');
    expect(await page.getByLabel('E-mail address').inputValue()).toBe(email);
    expect(await page.getByLabel(/^Password/).inputValue()).toBe('');
    await page.screenshot({ path: `${shots}/signup-error-${kind}.png`, fullPage: true });
    // The form still carries the way back to the sign-in.
    expect(await page.getByRole('link', { name: 'Back to sign in' }).getAttribute('href')).toMatch(/^\/interaction\//);
    expect(await server.gh.db('local_account').where({ email }).first()).toBeUndefined();
    await page.close();
  });

  it('re-renders the form with a message and status 400 for an invalid e-mail address', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('Your name').fill('No Address');
    await page.getByLabel('E-mail address').fill('not-an-address');
    await page.getByLabel(/^Password/).fill('long enough password');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/signup') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create account' }).click(),
    ]);
    expect(response.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('Enter a valid e-mail address');
    expect(await page.getByLabel('E-mail address').inputValue()).toBe('not-an-address');
    expect(await server.gh.db('local_account').where({ email: 'not-an-address' }).first()).toBeUndefined();
    await page.close();
  });

  it('answers /signup with a clear 403 page when sign-up is off, and offers no sign-up link', async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${closed.url}/signup`);
    expect(response?.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toContain('Sign-up is not open here');
    expect(await page.textContent('main')).not.toContain('Something went wrong');
    await page.screenshot({ path: `${shots}/signup-disabled-${kind}.png`, fullPage: true });

    await rp.connect(closed.url);
    try {
      await page.goto(`${rp.url}/login`);
      await page.waitForSelector('h1:has-text("Sign in")');
      expect(await page.getByRole('link', { name: 'Create an account' }).count()).toBe(0);
    } finally {
      await rp.connect(server.url);
    }
    await page.close();
  });
});

describe.each(databaseKinds)('sign-up over HTTP (CSRF, repeated sign-up) on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { connectors: [localWithSignup] });
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const person = (email: string) => ({ name: 'Mallory', email, password: 'forged-form-post' });
  const accountFor = (email: string) => server.gh.db('local_account').where({ email }).first();
  const mailTo = (email: string) => server.gh.db('mail_outbox').where({ to: email }).first();

  async function openForm(): Promise<{ browser: Browserless; token: string }> {
    const browser = new Browserless();
    const response = await browser.request(`${server.url}/signup`);
    expect(response.status).toBe(200);
    const token = csrfOf(await response.text());
    expect(token.length).toBeGreaterThanOrEqual(20);
    return { browser, token };
  }

  it('refuses a sign-up without the _csrf field with 403 and creates no account', async () => {
    const { browser } = await openForm();
    const email = `no-field-${kind}@example.com`;
    const response = await browser.request(`${server.url}/signup`, { form: person(email) });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('This form has expired or was not sent from this site');
    expect(await accountFor(email)).toBeUndefined();
    expect(await mailTo(email)).toBeUndefined();
  });

  it('refuses a sign-up with a wrong _csrf value with 403 and creates no account', async () => {
    const { browser, token } = await openForm();
    const email = `wrong-field-${kind}@example.com`;
    const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const response = await browser.request(`${server.url}/signup`, { form: { _csrf: wrong, ...person(email) } });
    expect(response.status).toBe(403);
    expect(await accountFor(email)).toBeUndefined();
    expect(await mailTo(email)).toBeUndefined();
  });

  it('refuses a valid-looking _csrf taken from another browser (a cross-site post) with 403', async () => {
    const { token } = await openForm();
    const { browser: victim } = await openForm();
    const email = `cross-site-${kind}@example.com`;
    const response = await victim.request(`${server.url}/signup`, { form: { _csrf: token, ...person(email) } });
    expect(response.status).toBe(403);
    const cookieless = await new Browserless().request(`${server.url}/signup`, { form: { _csrf: token, ...person(email) } });
    expect(cookieless.status).toBe(403);
    expect(await accountFor(email)).toBeUndefined();
  });

  /** The confirmation link of the newest mail to `email`, read from the outbox. */
  async function newestLink(email: string): Promise<string> {
    const row: { text: string } | undefined = await server.gh.db('mail_outbox').where({ to: email }).orderBy('id', 'desc').first();
    const link = /http:\/\/\S+\/verify-email\/\S+/.exec(row?.text ?? '')?.[0];
    if (!link) throw new Error(`no confirmation mail to ${email}`);
    return link;
  }

  /** The POST the confirmation page's button sends (to the link's path, with `return_to` as a form field). */
  function pressConfirm(browser: Browserless, link: string, csrf: string | undefined): Promise<Response> {
    const url = new URL(link);
    const form: Record<string, string> = {
      ...(csrf === undefined ? {} : { _csrf: csrf }),
      ...(url.searchParams.get('return_to') ? { return_to: url.searchParams.get('return_to')! } : {}),
    };
    return browser.request(`${url.origin}${url.pathname}`, { method: 'POST', form });
  }

  /** Opens the link (the confirmation page) and presses its button. */
  async function confirmByLink(browser: Browserless, link: string): Promise<Response> {
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    return pressConfirm(browser, link, csrfOf(await page.text()));
  }

  it("confirms nothing when the link is only opened (a mail scanner), and confirms on the page's POST only", async () => {
    const email = `scanned-${kind}@example.com`;
    const { browser, token } = await openForm();
    expect((await browser.request(`${server.url}/signup`, { form: { _csrf: token, ...person(email) } })).status).toBe(200);
    const link = await newestLink(email);
    const scanner = new Browserless();
    for (let i = 0; i < 2; i += 1) {
      const opened = await scanner.request(link);
      expect(opened.status).toBe(200);
      const html = await opened.text();
      expect(html).toContain('Confirm your e-mail address');
      expect(html).toContain(email);
      expect(html).toMatch(/<form method="post" action="\/verify-email\/[^"]+">/);
    }
    const viaHead = await fetch(link, { method: 'HEAD' });
    expect(viaHead.status).toBeLessThan(500);
    expect(await accountFor(email)).toMatchObject({ email_verified_at: null });
    expect(
      await server.gh
        .db('email_verification')
        .whereNotNull('used_at')
        .where({ local_account_id: (await accountFor(email)).id })
        .first(),
    ).toBeUndefined();

    // The button's POST without the page's CSRF token is refused, and confirms nothing either.
    expect((await pressConfirm(scanner, link, undefined)).status).toBe(403);
    expect(await accountFor(email)).toMatchObject({ email_verified_at: null });
    // With it, the address is confirmed once.
    const confirmed = await confirmByLink(browser, link);
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('E-mail confirmed');
    expect((await accountFor(email))?.email_verified_at).toBeGreaterThan(0);
    // Used now: opening it or pressing again says the address is confirmed already, and changes nothing.
    const verifiedAt = (await accountFor(email))?.email_verified_at;
    const reopened = await browser.request(link);
    expect(reopened.status).toBe(200);
    expect(await reopened.text()).toContain('Already confirmed');
    const pressedAgain = await pressConfirm(browser, link, csrfOf(await (await browser.request(`${server.url}/signup`)).text()));
    expect(pressedAgain.status).toBe(200);
    expect(await pressedAgain.text()).toContain('Already confirmed');
    expect((await accountFor(email))?.email_verified_at).toBe(verifiedAt);
    expect((await browser.request(`${server.url}/verify-email/not-a-real-token`)).status).toBe(400);
  });

  it('voids an earlier confirmation link when the address signs up again, so a stranger cannot choose the password', async () => {
    const email = `twice-${kind}@example.com`;
    const owner = await openForm();
    expect(
      (await owner.browser.request(`${server.url}/signup`, { form: { _csrf: owner.token, name: 'Owner', email, password: 'owners-own-password' } })).status,
    ).toBe(200);
    const ownersLink = await newestLink(email);
    // Someone else signs up with the same address before the owner opens the mail.
    const stranger = await openForm();
    expect(
      (await stranger.browser.request(`${server.url}/signup`, { form: { _csrf: stranger.token, name: 'Stranger', email, password: 'strangers-password' } }))
        .status,
    ).toBe(200);
    const strangersLink = await newestLink(email);
    expect(strangersLink).not.toBe(ownersLink);

    // The owner's link would confirm the account with the stranger's password: it must not work any more.
    const opened = await owner.browser.request(ownersLink);
    expect(opened.status).toBe(400);
    expect(await opened.text()).toContain('This confirmation link is invalid');
    expect((await pressConfirm(owner.browser, ownersLink, csrfOf(await (await owner.browser.request(`${server.url}/signup`)).text()))).status).toBe(400);
    expect(await accountFor(email)).toMatchObject({ email_verified_at: null });
    // The newest link is the one that counts.
    expect((await confirmByLink(owner.browser, strangersLink)).status).toBe(200);
    expect((await accountFor(email))?.email_verified_at).toBeGreaterThan(0);
  });

  it('answers a sign-up for a confirmed address like any other, mails the owner and keeps their password', async () => {
    const email = `taken-${kind}@example.com`;
    const owner = await openForm();
    await owner.browser.request(`${server.url}/signup`, { form: { _csrf: owner.token, name: 'Owner', email, password: 'owners-own-password' } });
    expect((await confirmByLink(owner.browser, await newestLink(email))).status).toBe(200);
    const before = await accountFor(email);

    const other = await openForm();
    const response = await other.browser.request(`${server.url}/signup`, {
      form: { _csrf: other.token, name: 'Other', email, password: 'someone-elses-password' },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Check your e-mail');
    expect(await accountFor(email)).toEqual(before);
    const newest: { subject: string; text: string } = await server.gh.db('mail_outbox').where({ to: email }).orderBy('id', 'desc').first();
    expect(newest.subject).toBe('You already have an account');
    expect(newest.text).not.toContain('/verify-email/');
  });

  it('accepts the same sign-up with the right _csrf value (the refusals above are not vacuous)', async () => {
    const { browser, token } = await openForm();
    const email = `right-field-${kind}@example.com`;
    const response = await browser.request(`${server.url}/signup`, { form: { _csrf: token, ...person(email) } });
    expect(response.status).toBe(200);
    expect(await accountFor(email)).toMatchObject({ email, name: 'Mallory', email_verified_at: null });
    expect(await mailTo(email)).toMatchObject({ subject: 'Confirm your e-mail address' });
  });
});
