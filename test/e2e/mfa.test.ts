/**
 * The second-factor pages in Chromium with axe-core (WCAG 2.1 A/AA; no serious
 * or critical violation) at 390 px, and nothing scrolling sideways at 1280 and
 * 390: TOTP enrollment at sign-in (QR code, the secret as text), the recovery
 * codes shown once, the TOTP prompt, and /account/security's enrollment page.
 * Presentation does not depend on the database: SQLite only. Skips loudly
 * without Chromium. With GATEHOUSE_SCREENSHOTS=DIR the pages are saved there.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const redirectUri = 'http://127.0.0.1:9/cb';

async function serious(page: Page): Promise<string[]> {
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

if (!chromiumAvailable()) console.warn('SKIPPED test/e2e/mfa.test.ts: no Chromium (set CHROMIUM_PATH)');

describe.skipIf(!chromiumAvailable())('second-factor pages in Chromium with axe-core', () => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };
  let counter = 0;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(
      db,
      {
        clients: [{ ...testClients.web, client_id: 'strict', client_name: 'Strict App', redirect_uris: [redirectUri], requireMfa: true }],
        connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      },
      { clock },
    );
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  const code = async (secret: string) => {
    skew += 60_000;
    return totpCode(secret, timeStep(clock.now()));
  };

  async function look(page: Page, name: string, width: number): Promise<void> {
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(sideways, `${name} at ${width} px does not scroll sideways`).toBeLessThanOrEqual(0);
    if (shots) await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
    if (width === 390) expect(await serious(page), `${name} at ${width} px`).toEqual([]);
  }

  async function signInWithPassword(page: Page, email: string): Promise<void> {
    const auth = new URL(`${server.url}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'strict',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 's',
      nonce: 'n',
    }).toString();
    await page.goto(auth.href);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill('a-long-password-1');
    await page.locator('form[action$="/login"] button[type=submit]').click();
  }

  for (const width of [1280, 390]) {
    it(`enrollment, recovery codes and the code prompt at ${width} px`, async () => {
      counter += 1;
      const email = `e2e-${counter}@example.com`;
      await server.gh.users.createLocal({ email, name: 'Eve', password: 'a-long-password-1' }, 'test');
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      try {
        const page = await context.newPage();
        await signInWithPassword(page, email);
        await expect(page.getByRole('heading', { name: 'Set up a second factor' })).toBeDefined();
        await page.waitForSelector('svg[role="img"]');
        await look(page, 'mfa-enroll', width);
        const secret = (await page.locator('#totp-secret').innerText()).replace(/\s+/g, '');
        await page.getByLabel('Code from the app').fill(await code(secret));
        await page.getByRole('button', { name: 'Confirm' }).click();
        await page.waitForSelector('text=Save your recovery codes');
        await look(page, 'mfa-recovery-codes', width);
        await context.clearCookies();

        const again = await context.newPage();
        await signInWithPassword(again, email);
        await again.waitForSelector('text=Code from your authenticator app');
        await look(again, 'mfa-prompt', width);
        await again.getByLabel('Code from your authenticator app').fill(await code(secret));
        await again.getByRole('button', { name: 'Continue' }).click();
        // Past the second factor: the consent page of the application comes next.
        await again.waitForSelector('form[action$="/consent"]');
      } finally {
        await context.close();
      }
    });
  }

  it('the enrollment page of /account/security at 1280 and 390 px', async () => {
    counter += 1;
    const email = `account-${counter}@example.com`;
    await server.gh.users.createLocal({ email, name: 'Acc', password: 'a-long-password-1' }, 'test');
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/account/security`);
        await page.getByLabel('E-mail address').fill(email);
        await page.getByLabel('Password', { exact: true }).fill('a-long-password-1');
        await page.locator('form[action$="/login"] button[type=submit]').click();
        await page.waitForURL(/\/account/);
        await page.goto(`${server.url}/account/security/totp`);
        await page.waitForSelector('svg[role="img"]');
        await look(page, 'account-totp-enroll', width);
      } finally {
        await context.close();
      }
    }
  });
});
