/**
 * The device authorization grant (RFC 8628, SPEC 6.3) end to end: a device
 * (openid-client, public client `tv`) starts an authorization and polls while a
 * person, in real headless Chromium, types the user code, signs in with a local
 * account, confirms the device and consents. On SQLite and PostgreSQL.
 * Screenshots of the device pages go to /tmp/shots/device-*.png.
 */
import { mkdirSync } from 'node:fs';
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRow } from '../../src/db/repos/users.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { DevicePollers, tokensOf, type DeviceAuthorization, type Polling, type Tokens } from '../helpers/device-polling.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = '/tmp/shots';
/** SPEC 6.3: 8 characters of the consonant alphabet, shown as XXXX-XXXX. */
const userCodeShape = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;
const email = 'grace@example.com';
const password = 'cobol-compiler-1959';

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('device authorization grant on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let device: client.Configuration;
  let user: UserRow;
  const contexts: BrowserContext[] = [];
  const pollers = new DevicePollers();

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [testClients.tv], security: { devicePollInterval: '1s' } });
    user = await server.gh.users.createLocal({ email, name: 'Grace Hopper', password }, 'test');
    device = await client.discovery(new URL(server.url), testClients.tv.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    browser = await launchBrowser();
    mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    pollers.stopAll();
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    return context.newPage();
  }

  /** The device asks for a code; the scope is the one SPEC 6.3's agent asks for. */
  function startDevice(): Promise<DeviceAuthorization> {
    return client.initiateDeviceAuthorization(device, { scope: 'openid email offline_access' });
  }

  const poll = (authorization: DeviceAuthorization): Polling => pollers.poll(device, authorization);

  async function signInAndConsent(page: Page): Promise<void> {
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    await page.getByRole('button', { name: 'Allow' }).click();
  }

  /** SPEC 2: pages are readable on a phone. Nothing may overflow a 360 px wide screen. */
  async function expectFitsOnAPhone(page: Page, shot: string): Promise<void> {
    const desktop = page.viewportSize();
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
    if (desktop) await page.setViewportSize(desktop);
  }

  async function expectTokensForUser(tokens: Tokens): Promise<void> {
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeTruthy();
    // The ID token names the user; e-mail travels through userinfo (oidc-provider keeps
    // scope claims out of the ID token when an access token is issued with it).
    const claims = tokens.claims();
    expect(claims).toMatchObject({ iss: server.url, aud: testClients.tv.client_id, sub: user.id });
    const userinfo = await client.fetchUserInfo(device, tokens.access_token, user.id);
    expect(userinfo).toMatchObject({ sub: user.id, email, email_verified: true });
    // The refresh token works (and rotates).
    const refreshed = await client.refreshTokenGrant(device, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
  }

  it('advertises device_authorization_endpoint in discovery', async () => {
    const response = await fetch(`${server.url}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.device_authorization_endpoint).toBe(`${server.url}/device/auth`);
    expect(metadata.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:device_code');
    expect(device.serverMetadata().device_authorization_endpoint).toBe(metadata.device_authorization_endpoint);
  });

  it('signs a device in after the person types the code in lower case without the dash, signs in, confirms and consents', async () => {
    const authorization = await startDevice();
    expect(authorization.user_code).toMatch(userCodeShape);
    expect(authorization.verification_uri).toBe(`${server.url}/device`);
    expect(authorization.verification_uri_complete).toBe(`${server.url}/device?user_code=${authorization.user_code}`);
    expect(authorization.expires_in).toBeGreaterThan(60);
    const polling = poll(authorization);

    const page = await newPage();
    await page.goto(authorization.verification_uri);
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    await page.screenshot({ path: `${shots}/device-input-${kind}.png`, fullPage: true });
    await expectFitsOnAPhone(page, `device-input-phone-${kind}`);
    await page.getByLabel('Code').fill(authorization.user_code.replace('-', '').toLowerCase());
    const [typed] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/device'),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    expect(typed.status()).toBe(200);

    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    const confirm = await page.textContent('main');
    expect(confirm).toContain('Living-room TV');
    // Shown in the canonical form, whatever the person typed.
    expect(await page.locator('.usercode').textContent()).toBe(authorization.user_code);
    await page.screenshot({ path: `${shots}/device-confirm-${kind}.png`, fullPage: true });
    await expectFitsOnAPhone(page, `device-confirm-phone-${kind}`);
    await page.getByRole('button', { name: 'Continue' }).click();

    await signInAndConsent(page);
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    await page.screenshot({ path: `${shots}/device-success-${kind}.png`, fullPage: true });

    await expectTokensForUser(await tokensOf(polling));
  });

  it('prefills the code from verification_uri_complete, and a signed-in person only confirms the next device', async () => {
    const first = await startDevice();
    const polling = poll(first);
    const page = await newPage();
    await page.goto(first.verification_uri_complete!);
    // oidc-provider answers with a page that posts the code by itself (one inline script
    // it allows by adding the script's hash to the Content-Security-Policy).
    await expect
      .poll(() => page.title(), { message: 'the self-submitting code form did not submit (blocked by the CSP?)', timeout: 10_000 })
      .toMatch(/^Confirm the device/);
    // No code to type: straight to the confirmation, with the device's code.
    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    expect(await page.locator('.usercode').textContent()).toBe(first.user_code);
    expect(await page.getByRole('textbox').count()).toBe(0);
    await page.getByRole('button', { name: 'Continue' }).click();
    await signInAndConsent(page);
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    await expectTokensForUser(await tokensOf(polling));

    // Same browser, already signed in and consented: confirming is all it takes.
    const second = await startDevice();
    const secondPolling = poll(second);
    await page.goto(second.verification_uri_complete!);
    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    expect(await page.locator('.usercode').textContent()).toBe(second.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    const tokens = await tokensOf(secondPolling);
    expect(tokens.claims()?.sub).toBe(user.id);
    expect(tokens.access_token).toBeTruthy();
  });

  it('answers a wrong code with a plain message on the code page (400), not a server error', async () => {
    const authorization = await startDevice();
    const page = await newPage();
    await page.goto(authorization.verification_uri);
    // A well-formed code that was never issued (the alphabet has no vowels, so this cannot collide).
    const wrong = authorization.user_code === 'BBBB-BBBB' ? 'CCCC-CCCC' : 'BBBB-BBBB';
    await page.getByLabel('Code').fill(wrong);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/device'),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    expect(response.status()).toBe(400);
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('That code is not right. Check the code on your device');
    await page.screenshot({ path: `${shots}/device-input-error-${kind}.png`, fullPage: true });
    // The person can try again on the same page: the real code still works.
    await page.getByLabel('Code').fill(authorization.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    expect(await page.locator('.usercode').textContent()).toBe(authorization.user_code);
  });

  it("ends the device's polling with access_denied when the person cancels on the confirm page", async () => {
    const authorization = await startDevice();
    const polling = poll(authorization);
    const page = await newPage();
    await page.goto(authorization.verification_uri);
    await page.getByLabel('Code').fill(authorization.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    expect(await page.getByRole('status').textContent()).toContain('You cancelled the sign-in, so the device was not connected');

    const outcome = await polling.result;
    expect('error' in outcome).toBe(true);
    const { error } = outcome as { error: unknown };
    expect(error).toBeInstanceOf(client.ResponseBodyError);
    expect((error as client.ResponseBodyError).error).toBe('access_denied');

    // The cancelled code cannot be used afterwards, and the page says why.
    await page.getByLabel('Code').fill(authorization.user_code);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/device'),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    expect(response.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('That code was declined');
  });
});
