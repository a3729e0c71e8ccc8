/**
 * "Other apps" and "My requests" in real headless Chromium, as a person uses
 * them (issue 13): signed in at /account, Other apps lists a discoverable app
 * they cannot use, they ask for access with a message (the page then says
 * "Asked on …, waiting"), an approver approves it for 30 days, and My
 * requests shows the approval with its end while Other apps no longer lists
 * the app and My apps does, with an Open link. Each page passes axe-core (WCAG 2.1 A/AA, no serious or critical
 * violations) at 390 px without sideways scrolling; with
 * GATEHOUSE_SCREENSHOTS=DIR each is saved at 1280 and 390 px. On SQLite and
 * PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateText } from '../../src/account/site.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const password = 'correct horse battery staple';
const redirect = 'http://127.0.0.1:9/cb';
const day = 86_400_000;

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('Other apps and My requests in a browser on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, {
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      clients: [
        { ...testClients.web, redirect_uris: [redirect] },
        {
          client_id: 'wiki',
          client_secret: 'wiki-secret-0123456789',
          client_name: 'Team Wiki',
          description: 'Where the team writes things down: handbooks, decisions and release notes',
          client_uri: 'https://wiki.example.com/',
          redirect_uris: [redirect],
          approvers: ['lead@example.com'],
          discoverable: true,
        },
        {
          client_id: 'drive',
          client_secret: 'drive-secret-0123456789',
          client_name: 'Shared Drive',
          redirect_uris: [redirect],
          discoverable: true,
        },
      ],
      admins: ['root@example.com'],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
    });
    const { row: invitation } = await server.gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    await server.gh.users.createLocal({ email: 'ada.lovelace@analytical-engine.example.com', name: 'Ada Lovelace', password }, 'test', (trx, user) =>
      server.gh.gate.attachToken(trx, user.id, invitation.id, 'test'),
    );
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  /** The page as it is now: a language and a title, axe (serious and critical) at 390 px, no sideways scrolling, screenshots at 390 and 1280. */
  async function look(page: Page, name: string): Promise<void> {
    expect(await page.getAttribute('html', 'lang'), `${name} has a language`).toBeTruthy();
    expect((await page.title()).length, `${name} has a title`).toBeGreaterThan(0);
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

  it('asks for access to a discoverable app, and sees the approval with its end in My requests', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const problems: string[] = [];
    // What the browser complains about: script errors, CSP refusals, sub-resources answering 4xx/5xx (the favicon aside).
    context.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    context.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`);
    });
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/account/browse`);
      await page.fill('#email', 'ada.lovelace@analytical-engine.example.com');
      await page.fill('#password', password);
      await Promise.all([page.waitForURL(`${server.url}/account/browse`), page.click('button[type=submit]')]);
      await page.waitForSelector('h1:has-text("Other apps")');
      expect(await page.getAttribute('nav a[aria-current=page]', 'href')).toBe('/account/browse');
      const main = await page.textContent('main');
      expect(main).toContain('Team Wiki');
      expect(main).toContain('Shared Drive');
      expect(main).not.toContain('Web App');
      await look(page, 'account-browse');

      await page.getByLabel(/^Message .*Team Wiki/).fill('I write the release notes and need the handbook section.');
      await Promise.all([page.waitForURL(`${server.url}/account/browse`), page.getByRole('button', { name: 'Ask for access to Team Wiki' }).click()]);
      expect(await page.getByRole('status').textContent()).toContain('Your request for Team Wiki is sent');
      const [request] = (await server.gh.joinRequests.list('pending')).filter((r) => r.client_id === 'wiki');
      expect(await page.textContent('main')).toContain(`Asked on ${dateText(request!.created_at)}, waiting for a decision`);
      expect(await page.getByRole('button', { name: 'Ask for access to Team Wiki' }).count()).toBe(0);
      await look(page, 'account-browse-asked');

      expect(request).toMatchObject({ kind: 'access', email: 'ada.lovelace@analytical-engine.example.com' });
      const endsAt = Date.now() + 30 * day;
      await server.gh.joinRequests.decide(request!.id, 'approve', 'lead@example.com', 'lead@example.com', {
        accessEndsAt: endsAt,
        note: 'Welcome aboard',
      });

      await page.getByRole('link', { name: 'My requests' }).first().click();
      await page.waitForSelector('h1:has-text("My requests")');
      const requests = await page.textContent('main');
      expect(requests).toContain('Team Wiki');
      expect(requests).toMatch(/Approved\s+by lead@example\.com/);
      expect(requests).toContain(`Access until ${dateText(endsAt)}`);
      expect(requests).toContain('Note: Welcome aboard');
      await look(page, 'account-requests');

      await page.goto(`${server.url}/account/browse`);
      expect(await page.textContent('main')).not.toContain('Team Wiki');
      await page.getByRole('link', { name: 'My apps' }).click();
      await page.waitForSelector('h1:has-text("My apps")');
      expect(await page.textContent('main')).toContain(`Access ends ${dateText(endsAt)}`);
      expect(await page.getByRole('link', { name: 'Open Team Wiki' }).getAttribute('href')).toBe('https://wiki.example.com/');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
