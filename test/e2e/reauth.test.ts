/**
 * "Confirm it is you" (src/account/pages/reauth.ts) in Chromium with axe-core
 * (WCAG 2.1 A/AA; no serious or critical violation) at 1280 and 390 px, and
 * nothing scrolling sideways: more than 5 minutes after signing in (the
 * injected clock moved), "Add an authenticator app" leads there; a wrong
 * password says so in place and that it counts toward the sign-in limit; the
 * right one goes on to the enrollment page. Presentation does not depend on
 * the database: SQLite only. Skips loudly without Chromium. With
 * GATEHOUSE_SCREENSHOTS=DIR the pages are saved there.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const password = 'a-long-password-1';

async function serious(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.passes.length).toBeGreaterThan(5);
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

if (!chromiumAvailable()) console.warn('SKIPPED test/e2e/reauth.test.ts: no Chromium (set CHROMIUM_PATH)');

describe.skipIf(!chromiumAvailable())('the re-authentication page in Chromium with axe-core', () => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, { connectors: [{ id: 'local', type: 'local', name: 'Email' }] }, { clock });
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  async function look(page: Page, name: string, width: number): Promise<void> {
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(sideways, `${name} at ${width} px does not scroll sideways`).toBeLessThanOrEqual(0);
    if (shots) await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
    expect(await serious(page), `${name} at ${width} px`).toEqual([]);
  }

  for (const width of [1280, 390]) {
    it(`asks for the password before adding an authenticator app, at ${width} px`, async () => {
      const email = `reauth-${width}@example.com`;
      await server.gh.users.createLocal({ email, name: 'Re', password }, 'test');
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/account/security`);
        await page.getByLabel('E-mail address').fill(email);
        await page.getByLabel('Password', { exact: true }).fill(password);
        await page.locator('form[action$="/login"] button[type=submit]').click();
        await page.waitForURL(/\/account\/security$/);
        skew += 6 * 60_000;
        await page.getByRole('link', { name: 'Add an authenticator app' }).click();
        await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
        expect(new URL(page.url()).pathname).toBe('/account/security/confirm');
        expect(await page.textContent('main')).toContain('For your safety, enter your password again to change how you sign in.');
        await look(page, 'account-reauth', width);

        await page.getByLabel('Password', { exact: true }).fill('not my password');
        await page.getByRole('button', { name: 'Confirm', exact: true }).click();
        await page.getByRole('alert').waitFor();
        expect(await page.getByRole('alert').textContent()).toContain('count toward the same limit as at sign-in');
        await look(page, 'account-reauth-wrong', width);

        await page.getByLabel('Password', { exact: true }).fill(password);
        await page.getByRole('button', { name: 'Confirm', exact: true }).click();
        await page.getByRole('heading', { name: 'Add an authenticator app' }).waitFor();
        expect(new URL(page.url()).pathname).toBe('/account/security/totp');
      } finally {
        await context.close();
      }
    });
  }
});
