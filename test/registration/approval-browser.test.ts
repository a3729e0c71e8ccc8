/**
 * What an approver sees, in real Chromium: the enable link from the mail opens
 * a confirmation page naming the client, its grant types and redirect URIs;
 * its button enables the client (which then gets tokens); opening the link
 * again says it has been used.
 */
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { clientCredentials, register, registered, registrationConfig, serviceMetadata } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const approver = 'boss@example.com';

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('client approval in the browser on %s', (kind) => {
  let db: TestDatabase;
  let smtp: TestSmtp;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(
      db,
      registrationConfig(
        { initialAccessToken: 'required' },
        {
          firstauth: { enable: true, mode: 'manual', mailer: { receiver: approver } },
          mailer: { host: '127.0.0.1', port: smtp.port },
        },
      ),
    );
    browser = await launchBrowser();
    if (shots) mkdirSync(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  it('shows the client on the confirmation page, enables it with the button, and refuses the used link', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 3_600_000, approval: true }, 'test');
    const made = registered(await register(server.url, serviceMetadata({ client_name: 'Greenhouse Sensor' }), token));
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).body.error).toBe('invalid_client');

    const mail = await smtp.waitFor((m) => m.to.includes(approver) && m.subject.includes('Greenhouse Sensor'));
    const link = new RegExp(`${server.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/approval/client/[A-Za-z0-9_-]+`).exec(mail.body)?.[0];
    expect(link).toBeDefined();

    const page = await (await browser.newContext()).newPage();
    await page.goto(link!);
    await page.getByRole('heading', { name: 'Enable this client?' }).waitFor();
    expect(await page.textContent('main, body')).toContain('Greenhouse Sensor');
    expect(await page.textContent('main, body')).toContain('client_credentials');
    if (shots) await page.screenshot({ path: `${shots}/client-approval-${kind}.png`, fullPage: true });
    // Opening the page changed nothing.
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).body.error).toBe('invalid_client');

    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('heading', { name: 'Client enabled' }).waitFor();
    expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);

    await page.goto(link!);
    expect(await page.textContent('body')).toContain('already been used');
  });
});
