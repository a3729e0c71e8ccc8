/**
 * Every page a person can reach, as Chromium draws it at 1280 and 390 pixels
 * wide (axe-core's WCAG 2.1 A and AA rules at 390): the sign-in, consent and
 * sign-up pages, the device code pages, the e-mail confirmation page, and the
 * pages that say something went wrong (unknown page, unknown client, used
 * links). Also: nothing scrolls sideways on a phone. Presentation does not
 * depend on the database, so this runs on SQLite only.
 * With GATEHOUSE_SCREENSHOTS=DIR the pages are also saved as PNGs there.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const widths = [1280, 390] as const;

/** axe's WCAG 2.1 A/AA violations on the page as it is now, each as "rule: first targets". */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  // A page axe could not read (blank, blocked) passes nothing: that is a failure too.
  expect(results.passes.length).toBeGreaterThan(5);
  return results.violations.map(
    (v) =>
      `${v.id} (${v.impact ?? 'n/a'}): ${v.nodes
        .map((n) => n.target.join(' '))
        .slice(0, 3)
        .join(', ')}`,
  );
}

describe.skipIf(!chromiumAvailable())('pages people see, in Chromium with axe-core', () => {
  let db: TestDatabase;
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    server = await startTestServer(db, {
      clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }, testClients.tv],
      connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }],
    });
    await rp.connect(server.url);
    await server.gh.users.createLocal({ email: 'ada@example.com', name: 'Ada Lovelace', password: 'analytical-engine' }, 'test');
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await rp?.stop();
    await server?.stop();
    await db?.drop();
  });

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
        // axe at the phone width only: its rules read the same markup at both widths, and a
        // full analysis costs about a second per page.
        if (width === 390) expect(await violations(page), `${name} at ${width} px`).toEqual([]);
      } finally {
        await context.close();
      }
    }
    return statuses;
  }

  const goto = async (page: Page, url: string) => (await page.goto(url))?.status();

  it('the sign-in page, a wrong password, and the consent page', async () => {
    await check('login', async (page) => {
      await page.goto(`${rp.url}/login`);
      await page.getByLabel('E-mail address').waitFor();
      return undefined;
    });
    await check('login-wrong-password', async (page) => {
      await page.goto(`${rp.url}/login`);
      await page.getByLabel('E-mail address').fill('ada@example.com');
      await page.getByLabel('Password').fill('not the password');
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.getByRole('button', { name: /Sign in/ }).click(),
      ]);
      await page.getByRole('alert').waitFor();
      return response.status();
    });
    await check('consent', async (page) => {
      await page.goto(`${rp.url}/login`);
      await page.getByLabel('E-mail address').fill('ada@example.com');
      await page.getByLabel('Password').fill('analytical-engine');
      await page.getByRole('button', { name: /Sign in/ }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      return undefined;
    });
  });

  it('the sign-up page and the e-mail confirmation page for a link that is not valid', async () => {
    await check('signup', async (page) => goto(page, `${server.url}/signup`));
    expect(await check('verify-email-invalid', async (page) => goto(page, `${server.url}/verify-email/not-a-real-token`))).toEqual([400, 400]);
  });

  it('the device code pages: the code form, a wrong code, and the confirmation', async () => {
    await check('device-input', async (page) => goto(page, `${server.url}/device`));
    await check('device-wrong-code', async (page) => {
      await page.goto(`${server.url}/device`);
      await page.getByRole('textbox').first().fill('BCDF-GHJK');
      const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button').first().click()]);
      return response.status();
    });
    await check('device-confirm', async (page) => {
      const started = await fetch(`${server.url}/device/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
      });
      const { verification_uri_complete: complete } = (await started.json()) as { verification_uri_complete: string };
      const status = await goto(page, complete);
      await page
        .getByText(/Living-room TV/)
        .first()
        .waitFor();
      return status;
    });
  });

  it('the pages that say something went wrong, each with its status', async () => {
    expect(await check('not-found', async (page) => goto(page, `${server.url}/no-such-page`))).toEqual([404, 404]);
    const unknownClient = await check('unknown-client', async (page) =>
      goto(
        page,
        `${server.url}/auth?${new URLSearchParams({ client_id: 'nobody', response_type: 'code', scope: 'openid', redirect_uri: 'https://example.com/cb' })}`,
      ),
    );
    expect(unknownClient.every((s) => s >= 400 && s < 500)).toBe(true);
    const invite = await check('invite-invalid', async (page) => goto(page, `${server.url}/invite/not-a-real-token`));
    expect(invite.every((s) => s >= 400 && s < 500)).toBe(true);
    const approval = await check('approval-invalid', async (page) => goto(page, `${server.url}/approval/not-a-real-token`));
    expect(approval.every((s) => s >= 400 && s < 500)).toBe(true);
  });
});
