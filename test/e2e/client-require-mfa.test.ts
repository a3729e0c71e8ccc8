/**
 * The console's client page with its Second factor section, in real headless
 * Chromium: a registered client's **Require a second factor** button posts
 * the form (with its CSRF value) and the page then says it is required and
 * offers **Stop requiring a second factor**; a static client's page says what
 * config.yaml holds and has no form. Each state is checked as every console
 * page is (test/helpers/console.ts: lang, title, no sideways scrolling at 390
 * px, the section navigation, no browser console errors, axe-core WCAG 2.1
 * A/AA without serious or critical violations), and drawn at 1280 and 390
 * wide with GATEHOUSE_SCREENSHOTS=DIR. Presentation does not depend on the
 * database: SQLite only.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { ConsoleInspector, signInToConsole, type Person } from '../helpers/console.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { register, registered, webMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const redirectUri = 'http://127.0.0.1:9/cb';

describe.skipIf(!chromiumAvailable())("the console client page's Second factor section in Chromium", () => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let clientId: string;
  const inspector = new ConsoleInspector(process.env.GATEHOUSE_SCREENSHOTS);
  const admin: Person = { email: 'admin@example.com', password: 'admin-password-0123' };

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {
      admins: [admin.email],
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      clients: [{ ...testClients.web, client_id: 'strict', client_name: 'Strict App', redirect_uris: [redirectUri], requireMfa: true }],
      registration: { enabled: true, initialAccessToken: 'required' },
    });
    await server.gh.users.createLocal({ email: admin.email, name: 'Ada Admin', password: admin.password }, 'test');
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 86_400_000 }, 'test');
    clientId = registered(await register(server.url, webMetadata(redirectUri, { client_name: 'Payroll' }), token)).client_id;
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = inspector.watch(await context.newPage());
    await signInToConsole(page, server.url, admin);
  });
  afterAll(async () => {
    const found = inspector.report();
    console.log(`console pages checked: ${inspector.seen.join(', ')}\naxe findings below serious:\n${found || '(none)'}`);
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  it('turns it on and off with the button on a registered client, and shows a static one read-only', async () => {
    const url = `${server.url}/admin/clients/${clientId}`;
    expect((await page.goto(url))?.status()).toBe(200);
    const section = page.getByRole('heading', { name: 'Second factor', level: 2 });
    await section.waitFor();
    await inspector.inspect(page, 'client-require-mfa-off');

    await page.getByRole('button', { name: 'Require a second factor' }).click();
    await page.getByText('Signing in to the client now takes a second factor').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/admin/clients/${clientId}`);
    await expect(page.getByRole('button', { name: 'Stop requiring a second factor' }).isVisible()).resolves.toBe(true);
    expect((await server.gh.clients.find(clientId))?.requireMfa).toBe(true);
    await inspector.inspect(page, 'client-require-mfa-on');

    await page.getByRole('button', { name: 'Stop requiring a second factor' }).click();
    await page.getByText('The client no longer requires a second factor').waitFor();
    expect((await server.gh.clients.find(clientId))?.requireMfa).toBe(false);

    expect((await page.goto(`${server.url}/admin/clients/strict`))?.status()).toBe(200);
    await page.getByText("a static client's setting is in config.yaml").waitFor();
    expect(await page.getByRole('button', { name: /second factor/ }).count()).toBe(0);
    await inspector.inspect(page, 'client-static-require-mfa');

    expect(inspector.problems).toEqual([]);
  });
});
