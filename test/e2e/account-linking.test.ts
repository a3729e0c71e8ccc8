/**
 * Account linking (first-auth, issue item 10): a second connector identity whose
 * verified e-mail matches an existing user is linked to that user only after the
 * user proves an identity it already has, never on the e-mail alone. The
 * upstream is a second, real Gatehouse (see upstream-oidc.test.ts for why the
 * hosts differ). Real Chromium, on SQLite and PostgreSQL.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import type { UserRow } from '../../src/db/repos/users.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { freePort } from '../helpers/ports.ts';

const secret = 'downstream-secret-0123456789';
const ada = { email: 'ada@corp.example', name: 'Ada Corp', password: 'upstream-password-42' };
const shots = process.env.GATEHOUSE_SCREENSHOTS;

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('account linking on %s', (kind) => {
  let upDb: TestDatabase;
  let downDb: TestDatabase;
  let upstream: TestServer;
  let downstream: TestServer;
  let rp: RelyingParty;
  let browser: Browser;
  let existing: UserRow;

  beforeAll(async () => {
    upDb = await createTestDatabase(kind);
    downDb = await createTestDatabase(kind);
    const upPort = await freePort();
    const upIssuer = `http://localhost:${upPort}`;
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    downstream = await startTestServer(downDb, {
      connectors: [
        { id: 'local', type: 'local', name: 'Email' },
        { id: 'corp', type: 'oidc', name: 'Corp SSO', issuer: upIssuer, clientId: 'downstream', clientSecret: secret },
      ],
      clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }],
    });
    await rp.connect(downstream.url);
    upstream = await startTestServer(
      upDb,
      {
        issuer: upIssuer,
        clients: [
          {
            client_id: 'downstream',
            client_secret: secret,
            client_name: 'Downstream',
            grant_types: ['authorization_code'],
            redirect_uris: [`${downstream.url}/connectors/corp/callback`],
          },
        ],
      },
      { port: upPort },
    );
    await upstream.gh.users.createLocal(ada, 'test');
    // The same person already has a local account downstream, with the same (verified) address.
    existing = await downstream.gh.users.createLocal({ email: ada.email, name: 'Ada Local', password: 'local-password-77' }, 'test');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.stop();
    await downstream?.stop();
    await upstream?.stop();
    await downDb?.drop();
    await upDb?.drop();
  });

  async function throughCorp(page: Page): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
    await page.waitForURL((url) => url.href.startsWith(upstream.url));
    await page.getByLabel('E-mail address').fill(ada.email);
    await page.getByLabel('Password').fill(ada.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.href.startsWith(downstream.url));
  }

  it('asks the person to prove the existing account before linking, then signs in as that user', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await throughCorp(page);
    await page.getByRole('status').waitFor();
    expect(await page.getByRole('status').textContent()).toContain('You already have an account for ada@corp.example');
    if (shots) await page.screenshot({ path: `${shots}/link-${kind}.png`, fullPage: true });
    // Not linked on the e-mail alone, and no second user either.
    expect((await downstream.gh.users.get(existing.id)).identities.map((i) => i.connector_id)).toEqual(['local']);
    expect(await downstream.gh.users.list()).toHaveLength(1);

    await page.getByLabel('E-mail address').fill(ada.email);
    await page.getByLabel('Password').fill('local-password-77');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(rp.signIns.at(-1)!.claims.sub).toBe(existing.id);
    const identities = (await downstream.gh.users.get(existing.id)).identities.map((i) => i.connector_id).sort();
    expect(identities).toEqual(['corp', 'local']);
    await context.close();
  });

  it('signs the linked identity straight in afterwards, as the same user', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await throughCorp(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(rp.signIns.at(-1)!.claims.sub).toBe(existing.id);
    expect(await downstream.gh.users.list()).toHaveLength(1);
    await context.close();
  });

  it('does not link when the person proves a different account', async () => {
    await upstream.gh.users.createLocal({ email: 'grace@corp.example', name: 'Grace', password: 'upstream-password-43' }, 'test');
    const grace = await downstream.gh.users.createLocal({ email: 'grace@corp.example', password: 'grace-local-pw' }, 'test');
    const other = await downstream.gh.users.createLocal({ email: 'someone@else.example', password: 'someone-else-pw' }, 'test');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.url}/login`);
    await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
    await page.waitForURL((url) => url.href.startsWith(upstream.url));
    await page.getByLabel('E-mail address').fill('grace@corp.example');
    await page.getByLabel('Password').fill('upstream-password-43');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.href.startsWith(downstream.url));
    await page.getByRole('status').waitFor();
    await page.getByLabel('E-mail address').fill('someone@else.example');
    await page.getByLabel('Password').fill('someone-else-pw');
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
    expect(rp.signIns.at(-1)!.claims.sub).toBe(other.id);
    expect((await downstream.gh.users.get(grace.id)).identities.map((i) => i.connector_id)).toEqual(['local']);
    expect((await downstream.gh.users.get(other.id)).identities.map((i) => i.connector_id)).toEqual(['local']);
    await context.close();
  });
});
