/**
 * "For my review" (/review) in Chromium at 1280 and 390 pixels wide: an
 * approver signs in through Gatehouse's own login page and lands on the
 * review page with two pending requests (one under a quorum of 2, already
 * approved once) and a person holding access; approves one for 30 days in one
 * click (the notice says so); opens End access (the confirmation page); and
 * someone who approves for no app gets the plain 403 page. Every page: a
 * language, a title, nothing scrolls sideways, no serious or critical axe-core
 * violation (WCAG 2.1 A/AA) at 390. Presentation does not depend on the
 * database, so this runs on SQLite only. With GATEHOUSE_SCREENSHOTS=DIR the
 * pages are saved as PNGs there.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const widths = [1280, 390] as const;
const password = 'correct horse battery staple';
const day = 86_400_000;
const app = (id: string, name: string, approvers: string[], approvals = 1) => ({
  ...testClients.web,
  client_id: id,
  client_secret: `${id}-secret-0123456789`,
  client_name: name,
  redirect_uris: ['http://127.0.0.1:9/cb'],
  approvers,
  approvals,
});

/** Serious and critical axe violations (WCAG 2.1 A/AA) on the page as it is now, each as "rule: first targets". */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.passes.length).toBeGreaterThan(5);
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    );
}

describe.skipIf(!chromiumAvailable())('the review page in Chromium with axe-core', () => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      clients: [app('alpha', 'Alpha App', ['ann@example.com']), app('quad', 'Quad App', ['ann@example.com', 'bob@example.com'], 2)],
      admins: ['root@example.com'],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
    });
    for (const email of ['ann@example.com', 'bob@example.com', 'zed@example.com']) await server.gh.users.createLocal({ email, password }, 'test');
    // Someone holding access to Alpha for 30 days.
    const held = await file('Grace Hopper', 'alpha', '');
    await server.gh.joinRequests.decide(held.id, 'approve', 'test', undefined, { accessEndsAt: Date.now() + 30 * day });
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  /** A known person's access request (a local account asking for an app). */
  async function file(name: string, clientId: string, message: string) {
    n += 1;
    const email = `${name.split(' ')[0]!.toLowerCase()}${n}@example.com`;
    const user = await server.gh.users.createLocal({ email, password, name }, 'test');
    const idp = await server.gh.db('user_idp').where({ user_id: user.id }).first();
    return server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: idp.subject as string, emailVerified: true },
      userId: user.id,
      clientId,
      email,
      name,
      message,
    });
  }

  /** Signs in on Gatehouse's login page (reached from /review) and lands back on /review. */
  async function signIn(page: Page, email: string): Promise<number | undefined> {
    await page.goto(`${server.url}/review`);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    const [response] = await Promise.all([page.waitForURL((url) => url.pathname === '/review'), page.getByRole('button', { name: /Sign in/ }).click()]).then(
      async () => [await page.reload()],
    );
    return response?.status();
  }

  /** Opens the page at both widths (fresh context each), checks it, and returns the statuses seen. */
  async function check(name: string, open: (page: Page) => Promise<number | undefined>): Promise<number[]> {
    const statuses: number[] = [];
    for (const width of widths) {
      const context: BrowserContext = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      try {
        const status = await open(page);
        if (status !== undefined) statuses.push(status);
        expect(await page.getAttribute('html', 'lang'), `${name} has a language`).toBeTruthy();
        expect((await page.title()).length, `${name} has a title`).toBeGreaterThan(0);
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(sideways, `${name} at ${width} px does not scroll sideways`).toBeLessThanOrEqual(0);
        if (shots) await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
        if (width === 390) expect(await violations(page), `${name} at ${width} px`).toEqual([]);
      } finally {
        await context.close();
      }
    }
    return statuses;
  }

  it('shows the approver their requests and who has access, approves one in one click, and asks before ending access', async () => {
    const quad = await file('Alan Turing', 'quad', 'I need Quad for the codebreaking project');
    await server.gh.joinRequests.decide(quad.id, 'approve', 'user:bob', 'bob@example.com');

    expect(
      await check('review', async (page) => {
        const status = await signIn(page, 'ann@example.com');
        await page.getByRole('heading', { name: 'For my review' }).waitFor();
        await page.getByText('1 of 2 approvals').first().waitFor();
        await page.getByText('Grace Hopper').first().waitFor();
        return status;
      }),
    ).toEqual([200, 200]);

    await check('review-approved', async (page) => {
      const ada = await file('Ada Lovelace', 'alpha', 'Please let me in to Alpha: I run the engine');
      await signIn(page, 'ann@example.com');
      const item = page.getByRole('listitem').filter({ hasText: 'Ada Lovelace' });
      await item.getByLabel('Access lasts').selectOption('30d');
      await item.getByRole('button', { name: /^Approve/ }).click();
      await page.getByRole('status').filter({ hasText: 'for 30 days' }).waitFor();
      expect((await server.gh.joinRequests.get(ada.id)).status).toBe('approved');
      return undefined;
    });

    await check('review-end-access', async (page) => {
      await signIn(page, 'ann@example.com');
      await page
        .getByRole('link', { name: /End access of Grace Hopper/ })
        .first()
        .click();
      await page.getByRole('heading', { name: 'End access?' }).waitFor();
      return undefined;
    });
  });

  it('gives someone who approves for no app the plain 403 page', async () => {
    expect(await check('review-forbidden', async (page) => signIn(page, 'zed@example.com'))).toEqual([403, 403]);
  });
});
