/**
 * A person signs in to a relying party (openid-client, code + PKCE) in real
 * headless Chromium with a local account: login page, consent, back at the app
 * with an ID token and userinfo. On SQLite and PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('browser login on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    server = await startTestServer(db, { clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri], post_logout_redirect_uris: [`${rp.url}/`] }] });
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

  it('signs a person in with code + PKCE and gives the app an ID token and userinfo', async () => {
    const page = await browser.newPage();
    await page.goto(`${rp.url}/login`);
    await expect(page.getByRole('heading', { name: 'Sign in' }).count()).resolves.toBe(1);
    expect(await page.textContent('main')).toContain('Web App');
    if (shots) await page.screenshot({ path: `${shots}/login-${kind}.png`, fullPage: true });
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill('analytical-engine');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.waitForSelector('text=Allow access?');
    if (shots) await page.screenshot({ path: `${shots}/consent-${kind}.png`, fullPage: true });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe('ada@example.com');
    const last = rp.signIns.at(-1)!;
    expect(last.claims.iss).toBe(server.url);
    expect(last.claims.aud).toBe('web');
    expect(last.userinfo).toMatchObject({ email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' });
    const [user] = await server.gh.users.list();
    expect(last.claims.sub).toBe(user!.id);
    expect(last.tokens.refresh_token).toBeTruthy();
    await page.close();
  });

  it('shows a wrong password as a plain message and keeps the e-mail filled in', async () => {
    const page = await browser.newPage();
    await page.goto(`${rp.url}/login`);
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill('wrong password');
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login')), page.getByRole('button', { name: /Sign in/ }).click()]);
    expect(response.status()).toBe(401);
    expect(await page.getByRole('alert').textContent()).toContain('e-mail address or password is wrong');
    expect(await page.getByLabel('E-mail address').inputValue()).toBe('ada@example.com');
    if (shots) await page.screenshot({ path: `${shots}/login-error-${kind}.png`, fullPage: true });
    await page.close();
  });

  it('skips consent on the next login in the same browser session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.url}/login`);
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill('analytical-engine');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    await page.goto(`${rp.url}/login`);
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toBe('ada@example.com');
    await context.close();
  });

  it('signs out through RP-initiated logout with a confirmation page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.url}/login`);
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill('analytical-engine');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    const idToken = rp.signIns.at(-1)!.tokens.id_token!;
    await page.goto(`${server.url}/session/end?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${rp.url}/` })}`);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    if (shots) await page.screenshot({ path: `${shots}/logout-${kind}.png`, fullPage: true });
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${rp.url}/`);
    // The session is gone: the next sign-in asks for the password again.
    await page.goto(`${rp.url}/login`);
    await page.getByLabel('Password').waitFor();
    await context.close();
  });
});
