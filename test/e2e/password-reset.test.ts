/**
 * A forgotten password, reset in real headless Chromium as a person does it:
 * "Forgot password?" on the app's sign-in, the mail from a real SMTP server,
 * the link, the new password twice, "Continue signing in" (the address filled
 * in), and signing in at the app with the new password. Each new page passes
 * axe-core (WCAG 2.1 A/AA, no serious or critical violations) at 390 px and
 * does not scroll sideways; with GATEHOUSE_SCREENSHOTS=DIR each is saved at
 * 1280 and 390 px. On SQLite and PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('password reset in a browser on %s', (kind) => {
  let db: TestDatabase;
  let smtp: TestSmtp;
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    server = await startTestServer(db, {
      clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }],
      connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }],
      mailer: { host: '127.0.0.1', port: smtp.port },
    });
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

  /** The page as it is now: axe (serious and critical) at 390 px, no sideways scrolling, screenshots at 1280 and 390. */
  async function look(page: Page, name: string): Promise<void> {
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    expect(results.passes.length, `axe read ${name}`).toBeGreaterThan(5);
    const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes[0]?.target.join(' ')}`);
    expect(serious, `${name} at 390 px`).toEqual([]);
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(sideways, `${name} does not scroll sideways at 390 px`).toBeLessThanOrEqual(0);
    if (!shots) return;
    await page.screenshot({ path: `${shots}/${name}-390-${kind}.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: `${shots}/${name}-1280-${kind}.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
  }

  it('resets a forgotten password from the sign-in page through the mailed link, then signs in with it', async () => {
    const email = `forgetful-${kind}@example.com`;
    await server.gh.users.createLocal({ email, name: 'Forgetful Person', password: 'the-forgotten-one' }, 'test');
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();

    await page.goto(`${rp.url}/login`);
    await page.waitForSelector('h1:has-text("Sign in")');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForSelector('h1:has-text("Forgot your password?")');
    await look(page, 'forgot-password');

    await page.getByLabel('E-mail address').fill(email);
    const [asked] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/forgot-password') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Send me a reset link' }).click(),
    ]);
    expect(asked.status()).toBe(200);
    await page.waitForSelector('h1:has-text("Check your e-mail")');
    expect(await page.textContent('main')).toContain(email);
    await look(page, 'forgot-password-sent');

    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password');
    const link = new RegExp(`${server.url.replace(/[.]/g, '\\.')}/reset-password/[A-Za-z0-9_-]+(?:\\?return_to=[A-Za-z0-9%._~-]+)?`).exec(mail.body)?.[0];
    expect(link, 'a reset link in the mail').toBeTruthy();
    expect(link).toContain('?return_to=%2Finteraction%2F');

    expect((await page.goto(link!))?.status()).toBe(200);
    await page.waitForSelector('h1:has-text("Choose a new password")');
    await look(page, 'reset-password');
    await page.getByLabel(/^New password \(/).fill('a-remembered-one');
    await page.getByLabel('New password again').fill('a-remembered-one');
    const [set] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/reset-password/') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Set new password' }).click(),
    ]);
    expect(set.status()).toBe(200);
    await page.waitForSelector('h1:has-text("Password changed")');
    await look(page, 'reset-password-done');
    const resume = await page.getByRole('link', { name: 'Continue signing in' }).getAttribute('href');

    // The link again: used, said in plain words (410), with a way to ask for a new one.
    expect((await page.goto(link!))?.status()).toBe(410);
    expect(await page.getByRole('alert').textContent()).toContain('This reset link was already used');
    expect(await page.getByRole('link', { name: 'Ask for a new link' }).count()).toBe(1);
    await look(page, 'reset-password-used');

    // "Continue signing in": the sign-in under way, the address filled in.
    expect(resume).toMatch(/^\/interaction\/[A-Za-z0-9_-]+\?login_hint=/);
    await page.goto(`${server.url}${resume}`);
    await page.waitForSelector('h1:has-text("Sign in")');
    expect(await page.getByLabel('E-mail address').inputValue()).toBe(email);
    await page.getByLabel('Password').fill('a-remembered-one');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe(email);
    await context.close();
  });
});
