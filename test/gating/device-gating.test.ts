/**
 * First-auth gating in the device authorization grant (SPEC 3 manual mode and
 * SPEC 6.3: "logs in — with first-auth gating exactly as in the browser"). The
 * device is openid-client with the public client `tv` ("Living-room TV"); the
 * person uses real headless Chromium. A newcomer is stopped at the gate page
 * and let through by a token for `tv`; a token for another client is refused in
 * plain words; a user who has access just signs in; when that access is revoked,
 * the device's refresh token stops working and the next device sign-in meets the
 * gate, where a new token for `tv` lets the same user connect it. On SQLite and
 * PostgreSQL.
 */
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { incrementAclTokenUses, linkUserToAclToken } from '../../src/db/repos/acl-tokens.ts';
import { insertLocalAccount, type UserRow } from '../../src/db/repos/users.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { DevicePollers, tokensOf, type DeviceAuthorization, type Polling } from '../helpers/device-polling.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';

const web = { ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] };

const count = async (db: Db, table: string, where: Record<string, unknown> = {}): Promise<number> =>
  Number((await db(table).where(where).count<{ n: number | string }[]>({ n: '*' }).first())?.n ?? 0);

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('gated device sign-in on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let device: client.Configuration;
  const contexts: BrowserContext[] = [];
  const pollers = new DevicePollers();
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, {
      clients: [testClients.tv, web],
      // The devices here poll every second (see poll()); the server agrees, so no slow_down.
      security: { devicePollInterval: '1s' },
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
    });
    device = await client.discovery(new URL(server.url), testClients.tv.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    pollers.stopAll();
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    await db?.drop();
  });

  /** A local account with no Gatehouse user yet: nobody has let this person in. */
  async function newcomer(): Promise<{ accountId: string; email: string; password: string }> {
    n += 1;
    const accountId = `device-newcomer-${kind}-${n}`;
    const email = `viewer${n}@example.com`;
    const password = `remote-control-${n}`;
    await insertLocalAccount(server.gh.db, {
      id: accountId,
      email,
      name: `Viewer ${n}`,
      password_hash: await server.gh.passwords.hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return { accountId, email, password };
  }

  const userOf = async (accountId: string): Promise<UserRow | undefined> =>
    server.gh.users.lookup({ connectorId: 'local', subject: accountId, emailVerified: true });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    return context.newPage();
  }

  const poll = (authorization: DeviceAuthorization): Polling => pollers.poll(device, authorization);

  /** Still waiting: the device has neither tokens nor a final error after a couple of polls (answered authorization_pending). */
  async function expectStillPending(polling: Polling): Promise<void> {
    const settled = await Promise.race([polling.result.then(() => true), polling.pendingAnswers(2).then(() => false)]);
    expect(settled).toBe(false);
  }

  /** The device starts; the person follows verification_uri_complete (the code comes prefilled) and confirms it. */
  async function startAndConfirm(page: Page): Promise<{ authorization: DeviceAuthorization; polling: Polling }> {
    const authorization = await client.initiateDeviceAuthorization(device, { scope: 'openid email offline_access' });
    expect(authorization.verification_uri_complete).toBe(`${server.url}/device?user_code=${authorization.user_code}`);
    const polling = poll(authorization);
    await page.goto(authorization.verification_uri_complete!);
    await page.getByRole('heading', { name: 'Confirm the device' }).waitFor();
    expect(await page.locator('.usercode').textContent()).toBe(authorization.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    return { authorization, polling };
  }

  async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    await page.getByLabel('E-mail address').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
  }

  async function consentAndConnect(page: Page): Promise<void> {
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
  }

  async function typeToken(page: Page, token: string): Promise<void> {
    await page.getByLabel('Invitation code or link').fill(token);
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  it('stops a newcomer at the gate page for Living-room TV; a token for tv lets them through and the device gets tokens', async () => {
    const who = await newcomer();
    const { row, token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['tv'] }, 'test');
    const usersBefore = await count(server.gh.db, 'user');
    const page = await newPage();
    const { polling } = await startAndConfirm(page);
    await signIn(page, who);

    await page.getByRole('heading', { name: 'An invitation is needed' }).waitFor();
    expect(await page.textContent('main')).toContain('Living-room TV');
    expect(await page.textContent('main')).toContain(who.email);
    expect(await userOf(who.accountId)).toBeUndefined();
    expect(await count(server.gh.db, 'user')).toBe(usersBefore);
    await expectStillPending(polling);

    await typeToken(page, token);
    await consentAndConnect(page);

    const tokens = await tokensOf(polling);
    const user = await userOf(who.accountId);
    expect(user).toBeDefined();
    expect(await count(server.gh.db, 'user')).toBe(usersBefore + 1);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.claims()).toMatchObject({ iss: server.url, aud: 'tv', sub: user!.id });
    const details = await server.gh.aclTokens.get(row.id);
    expect(details.uses).toBe(1);
    expect(details.users).toEqual([user!.id]);
    // The device can use its refresh token: the user has access to tv.
    const refreshed = await client.refreshTokenGrant(device, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
  });

  it("refuses a token for another client only, in plain words, and lets no one in; cancelling ends the device's wait", async () => {
    const who = await newcomer();
    const { row, token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    const usersBefore = await count(server.gh.db, 'user');
    const page = await newPage();
    const { polling } = await startAndConfirm(page);
    await signIn(page, who);
    await page.getByRole('heading', { name: 'An invitation is needed' }).waitFor();

    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/token')),
      typeToken(page, `${server.url}/invite/${token}`),
    ]);
    expect(answer.status()).toBe(403);
    expect(await page.getByRole('alert').textContent()).toBe('This invitation does not give access to Living-room TV.');
    expect(await page.textContent('main')).toContain('does not give access to Living-room TV');
    // Still at the gate: no user, the token unused, no tokens for the device.
    await page.getByRole('heading', { name: 'An invitation is needed' }).waitFor();
    expect(await userOf(who.accountId)).toBeUndefined();
    expect(await count(server.gh.db, 'user')).toBe(usersBefore);
    expect((await server.gh.aclTokens.get(row.id)).uses).toBe(0);
    await expectStillPending(polling);

    await page.getByRole('link', { name: 'Cancel' }).click();
    const outcome = await polling.result;
    expect('error' in outcome).toBe(true);
    const { error } = outcome as { error: unknown };
    expect(error).toBeInstanceOf(client.ResponseBodyError);
    expect((error as client.ResponseBodyError).error).toBe('access_denied');
    expect(await userOf(who.accountId)).toBeUndefined();
  });

  it("lets a user who already has access to tv just sign in; revoking that access ends the device's refresh token and gates the next device sign-in until a new token", async () => {
    const { row } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['tv'] }, 'test');
    const password = 'has-had-access-long';
    const user = await server.gh.users.createLocal({ email: 'owner@example.com', name: 'Owner', password }, 'test');
    expect(await incrementAclTokenUses(server.gh.db, row.id, Date.now())).toBe(true);
    await linkUserToAclToken(server.gh.db, user.id, row.id, Date.now());
    expect(await server.gh.gate.hasAccess(user.id, 'tv')).toBe(true);

    const page = await newPage();
    const { polling } = await startAndConfirm(page);
    await signIn(page, { email: 'owner@example.com', password });
    // No gate page: straight to consent, then connected.
    await consentAndConnect(page);
    const tokens = await tokensOf(polling);
    expect(tokens.claims()?.sub).toBe(user.id);
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(device, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();

    await server.gh.aclTokens.revoke(row.id, 'test');
    expect(await server.gh.gate.hasAccess(user.id, 'tv')).toBe(false);
    const refused = await client.refreshTokenGrant(device, refreshed.refresh_token!).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(client.ResponseBodyError);
    expect((refused as client.ResponseBodyError).error).toBe('invalid_grant');

    // The same browser (still signed in) connects another device: the access prompt stops it.
    const next = await startAndConfirm(page);
    await page.getByRole('heading', { name: 'No access to Living-room TV' }).waitFor();
    await expectStillPending(next.polling);
    // A new token for tv, typed there, lets the same user (no new user) connect it.
    const renewed = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['tv'] }, 'test');
    const usersBefore = await count(server.gh.db, 'user');
    await typeToken(page, renewed.token);
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    const again = await tokensOf(next.polling);
    expect(again.claims()?.sub).toBe(user.id);
    expect(await count(server.gh.db, 'user')).toBe(usersBefore);
    expect((await server.gh.aclTokens.get(renewed.row.id)).users).toEqual([user.id]);
    expect((await client.refreshTokenGrant(device, again.refresh_token!)).access_token).toBeTruthy();
  });
});
