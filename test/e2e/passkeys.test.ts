/**
 * Passkeys in real Chromium with a virtual authenticator (Chrome DevTools
 * Protocol WebAuthn domain, CTAP2, internal, resident keys, user verified):
 * sign in with a password, register a passkey at /account/security, sign out,
 * sign in with the passkey and no password at the sample relying party (the
 * ID token's amr says hwk), use it as the second factor after a password
 * (acr_values asks for one: amr pwd + hwk, acr urn:gatehouse:mfa), remove it;
 * a newcomer who must set up a second factor adds a passkey instead of an app.
 * The issuer is http://localhost:<port> (WebAuthn refuses IP addresses as the
 * relying party id) while the server listens on 127.0.0.1. axe-core (WCAG 2.1
 * A/AA, no serious or critical) on the passkey pages at 390 px. SQLite only
 * (the storage is tested on both in test/identity/passkeys.test.ts).
 * With GATEHOUSE_SCREENSHOTS=DIR the pages are drawn at 1280 and 390 px there.
 */
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { freePort } from '../helpers/ports.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const shots = process.env.GATEHOUSE_SCREENSHOTS;
const email = 'grace@example.com';
const password = 'cobol-compiler-1959';

async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(results.passes.length).toBeGreaterThan(5);
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe.skipIf(!chromiumAvailable())('passkeys in Chromium with a virtual authenticator', () => {
  let db: TestDatabase;
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    const port = await freePort();
    server = await startTestServer(
      db,
      {
        issuer: `http://localhost:${port}`,
        clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }],
        connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      },
      { port },
    );
    await rp.connect(server.config.issuer);
    await server.gh.users.createLocal({ email, name: 'Grace Hopper', password }, 'test');
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
    if (shots) mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await rp?.stop();
    await server?.stop();
    await db?.drop();
  });

  const issuer = () => server.config.issuer.replace(/\/$/, '');

  /** Axe at 390 px and screenshots at 1280 and 390 of the page as it is now. */
  async function look(name: string): Promise<void> {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(sideways, `${name} at ${width} px does not scroll sideways`).toBeLessThanOrEqual(0);
      if (shots) await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
      if (width === 390) expect(await seriousViolations(page), `${name} at 390 px`).toEqual([]);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

  it('registers a passkey at /account/security after a password sign-in', async () => {
    await page.goto(`${issuer()}/account`);
    await page.fill('#email', email);
    expect(await page.getAttribute('#email', 'autocomplete')).toBe('username webauthn');
    await look('passkey-login');
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${issuer()}/account`), page.getByRole('button', { name: 'Sign in with Email' }).click()]);
    await page.goto(`${issuer()}/account/security`);
    await Promise.all([page.waitForURL(`${issuer()}/account/security/passkeys`), page.getByRole('link', { name: 'Add a passkey' }).click()]);
    await look('passkeys-empty');
    await page.getByLabel(/Name of the new passkey/).fill('Work laptop');
    await Promise.all([page.waitForURL(`${issuer()}/account/security`), page.getByRole('button', { name: 'Add a passkey' }).click()]);
    await expect(page.getByRole('status').textContent()).resolves.toContain('Work laptop');
    expect(await credentials()).toHaveLength(1);
    // The Security page lists it among the second factors.
    await expect(page.locator('main').textContent()).resolves.toContain('Work laptop');
    await look('security-with-passkey');
    const [stored] = await server.gh.db('mfa_factor').where({ kind: 'passkey' });
    expect(stored).toMatchObject({ name: 'Work laptop' });
    await page.goto(`${issuer()}/account/security/passkeys`);
    await expect(page.locator('.items li').first().textContent()).resolves.toContain('Work laptop');
    await look('passkeys-one');
  });

  /** The virtual authenticator answers by itself (presence and verification simulated) or not at all. */
  const presence = (enabled: boolean) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });

  /** From Gatehouse's pages on to the relying party's page with the claims (past the consent page if it comes). */
  async function reachApp(): Promise<Record<string, unknown>> {
    const allow = page.getByRole('button', { name: 'Allow' });
    const claims = page.locator('#claims');
    await Promise.race([allow.waitFor(), claims.waitFor()]);
    if (await allow.isVisible()) await allow.click();
    await claims.waitFor();
    return rp.signIns.at(-1)!.claims;
  }

  it("signs in with no password through the e-mail field's autofill (conditional UI) at the relying party: amr hwk", async () => {
    await context.clearCookies();
    const before = rp.signIns.length;
    await page.goto(`${rp.url}/login`);
    // The virtual authenticator picks the one passkey offered in the autofill by itself.
    const claims = await reachApp();
    expect(rp.signIns.length).toBe(before + 1);
    expect(rp.signIns.at(-1)!.userinfo.email).toBe(email);
    expect(claims.amr).toEqual(['hwk', 'user']);
    expect(claims.acr).toBe('urn:gatehouse:mfa');
    const [stored] = await server.gh.db('mfa_factor').where({ kind: 'passkey' });
    expect(stored.last_used_at).not.toBeNull();
  });

  it('signs in with the "Continue with a passkey" button', async () => {
    await context.clearCookies();
    await presence(false);
    await page.goto(`${rp.url}/login`);
    const button = page.getByRole('button', { name: 'Continue with a passkey' });
    await button.waitFor();
    await presence(true);
    await button.click();
    const claims = await reachApp();
    expect(claims.amr).toEqual(['hwk', 'user']);
  });

  it('is the second factor after a password when the application asks for one (acr_values)', async () => {
    await context.clearCookies();
    await presence(false);
    await page.goto(`${rp.url}/login?acr_values=${encodeURIComponent('urn:gatehouse:mfa')}`);
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.getByRole('button', { name: 'Sign in with Email' }).click();
    const use = page.getByRole('button', { name: 'Use a passkey' });
    await use.waitFor();
    await look('passkey-second-factor');
    await presence(true);
    await use.click();
    const claims = await reachApp();
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
    expect(claims.acr).toBe('urn:gatehouse:mfa');
  });

  it('removes the passkey (after a confirmation); it signs in no more', async () => {
    await page.goto(`${issuer()}/account/security/passkeys`);
    // Signed in to the account again by the autofill when the account's own sign-in is needed.
    await page.waitForURL(`${issuer()}/account/security/passkeys`);
    await page.getByRole('link', { name: /Remove the passkey Work laptop/ }).click();
    await page.getByRole('heading', { name: /Remove the passkey/ }).waitFor();
    await look('passkey-remove');
    await Promise.all([page.waitForURL(`${issuer()}/account/security`), page.getByRole('button', { name: 'Remove' }).click()]);
    expect(await server.gh.db('mfa_factor').where({ kind: 'passkey' })).toEqual([]);
    await context.clearCookies();
    await page.goto(`${rp.url}/login`);
    // The autofill offers the (now unknown) passkey once; the page says so and does not try again.
    const alert = page.getByRole('alert').filter({ hasText: 'not registered' });
    await alert.waitFor();
    await look('passkey-unknown');
    expect(await page.locator('form[data-passkey][data-autofill]').count()).toBe(0);
  });

  it('sets up a passkey as the first second factor where one is required (instead of an authenticator app)', async () => {
    const newcomer = await server.gh.users.createLocal({ email: 'alan@example.com', name: 'Alan Turing', password }, 'test');
    await context.clearCookies();
    await presence(false);
    await page.goto(`${rp.url}/login?acr_values=${encodeURIComponent('urn:gatehouse:mfa')}`);
    await page.fill('#email', 'alan@example.com');
    await page.fill('#password', password);
    await page.getByRole('button', { name: 'Sign in with Email' }).click();
    const instead = page.getByRole('button', { name: 'Add a passkey instead' });
    await instead.waitFor();
    await look('passkey-enroll');
    await presence(true);
    await page.getByLabel(/Name of a new passkey/).fill('Phone');
    await instead.click();
    const claims = await reachApp();
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
    expect(claims.acr).toBe('urn:gatehouse:mfa');
    expect(await server.gh.db('mfa_factor').where({ user_id: newcomer.id, kind: 'passkey' }).select('name')).toEqual([{ name: 'Phone' }]);
  });
});
