/**
 * Login through an upstream OpenID provider (the `oidc` connector, SPEC 2) in
 * real headless Chromium. The upstream is a second, real Gatehouse with a
 * confidential client `downstream`; the downstream Gatehouse lists it as
 * "Corp SSO" and signs people in to the sample relying party. On SQLite and
 * PostgreSQL.
 *
 * The upstream answers at `localhost`, the downstream at `127.0.0.1`: cookies
 * are scoped by host, not port, and both servers use the same cookie names, so
 * two hosts keep their sessions apart the way two real deployments would be.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelyingParty, type RelyingParty } from '../../examples/relying-party.ts';
import type { UserRow } from '../../src/db/repos/users.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { chromiumAvailable } from '../helpers/services.ts';
import { freePort } from '../helpers/ports.ts';

const shots = '/tmp/shots';
const upstreamSecret = 'downstream-secret-0123456789';
const person = { email: 'linus@corp.example', name: 'Linus Corp', password: 'upstream-password-42' };

describe.skipIf(!chromiumAvailable()).each(databaseKinds)('login through an upstream OpenID provider on %s', (kind) => {
  let upstreamDb: TestDatabase;
  let downstreamDb: TestDatabase;
  let upstream: TestServer;
  let downstream: TestServer;
  let rp: RelyingParty;
  let browser: Browser;
  let upstreamUser: UserRow;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    upstreamDb = await createTestDatabase(kind);
    downstreamDb = await createTestDatabase(kind);
    const upstreamPort = await freePort();
    const upstreamIssuer = `http://localhost:${upstreamPort}`;
    rp = await startRelyingParty({ issuer: 'http://placeholder.invalid', clientId: 'web', clientSecret: testClients.web.client_secret });
    // The downstream first: its issuer (OS-picked port) goes into the upstream client's redirect URI.
    // Its connector discovers the upstream lazily, at the first login.
    downstream = await startTestServer(downstreamDb, {
      connectors: [
        { id: 'local', type: 'local', name: 'Email' },
        {
          id: 'corp',
          type: 'oidc',
          name: 'Corp SSO',
          issuer: upstreamIssuer,
          clientId: 'downstream',
          clientSecret: upstreamSecret,
          scopes: ['openid', 'email', 'profile'],
        },
      ],
      clients: [{ ...testClients.web, redirect_uris: [rp.redirectUri] }],
    });
    await rp.connect(downstream.url);
    upstream = await startTestServer(
      upstreamDb,
      {
        issuer: upstreamIssuer,
        clients: [
          {
            client_id: 'downstream',
            client_secret: upstreamSecret,
            client_name: 'Downstream Gatehouse',
            grant_types: ['authorization_code'],
            redirect_uris: [`${downstream.url}/connectors/corp/callback`],
          },
        ],
      },
      { port: upstreamPort },
    );
    upstreamUser = await upstream.gh.users.createLocal(person, 'test');
    browser = await launchBrowser();
    mkdirSync(shots, { recursive: true });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await rp?.stop();
    await downstream?.stop();
    await upstream?.stop();
    await downstreamDb?.drop();
    await upstreamDb?.drop();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    return context.newPage();
  }

  /** RP → downstream login page → Corp SSO → upstream login + consent → back → downstream consent → RP. */
  async function signInThroughCorp(page: Page, screenshots = false): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(page.url().startsWith(downstream.url)).toBe(true);
    expect(await page.textContent('main')).toContain('Web App');
    const corp = page.getByRole('link', { name: 'Continue with Corp SSO' });
    expect(await corp.count()).toBe(1);
    if (screenshots) await page.screenshot({ path: `${shots}/upstream-login-downstream-${kind}.png`, fullPage: true });
    await corp.click();

    // The upstream's own login page, for its own client.
    await page.waitForURL((url) => url.href.startsWith(upstream.url));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.textContent('main')).toContain('Downstream Gatehouse');
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(page.url().startsWith(upstream.url)).toBe(true);
    expect(await page.textContent('main')).toContain('Downstream Gatehouse');
    await page.getByRole('button', { name: 'Allow' }).click();

    // Back at the downstream, which asks for consent on behalf of the app.
    await page.waitForURL((url) => url.href.startsWith(downstream.url));
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.textContent('main')).toContain('Web App');
    if (screenshots) await page.screenshot({ path: `${shots}/upstream-consent-downstream-${kind}.png`, fullPage: true });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('#who');
  }

  it('signs a person in through Corp SSO and links the upstream subject to an internal user', async () => {
    const page = await newPage();
    await signInThroughCorp(page, true);
    expect(await page.textContent('#who')).toBe(person.email);

    const users = await downstream.gh.users.list();
    expect(users).toHaveLength(1);
    const user = await downstream.gh.users.get(users[0]!.id);
    expect(user).toMatchObject({ email: person.email, email_verified: true, name: person.name });
    expect(user.identities).toHaveLength(1);
    expect(user.identities[0]).toMatchObject({ connector_id: 'corp', subject: upstreamUser.id, user_id: user.id });

    const last = rp.signIns.at(-1)!;
    expect(last.claims.iss).toBe(downstream.url);
    expect(last.claims.aud).toBe('web');
    // The app sees the downstream's own user id, never the upstream's subject.
    expect(last.claims.sub).toBe(user.id);
    expect(last.claims.sub).not.toBe(upstreamUser.id);
    expect(last.userinfo).toMatchObject({ sub: user.id, email: person.email, email_verified: true, name: person.name });
  });

  it('maps a second login through Corp SSO to the same user', async () => {
    const before = rp.signIns.length;
    const page = await newPage();
    await signInThroughCorp(page);
    expect(rp.signIns).toHaveLength(before + 1);

    const users = await downstream.gh.users.list();
    expect(users).toHaveLength(1);
    const user = await downstream.gh.users.get(users[0]!.id);
    expect(user.identities.filter((i) => i.connector_id === 'corp')).toHaveLength(1);
    expect(rp.signIns.at(-1)!.claims.sub).toBe(user.id);
    expect(user.last_login_at).not.toBeNull();
  });

  /** Starts a login at the RP and follows "Continue with Corp SSO" to the upstream's login page. */
  async function startCorpLogin(page: Page): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.getByRole('link', { name: 'Continue with Corp SSO' }).click();
    await page.waitForURL((url) => url.href.startsWith(upstream.url));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }

  it('refuses a forged callback after a login was started, with a clear error page and no login', async () => {
    const before = { signIns: rp.signIns.length, users: (await downstream.gh.users.list()).length };
    const page = await newPage();
    await startCorpLogin(page);

    // Instead of signing in upstream, something sends the browser back with a forged code and state.
    const response = await page.goto(`${downstream.url}/connectors/corp/callback?code=x&state=wrong`);
    expect(response!.status()).toBe(502);
    expect(page.url().startsWith(downstream.url)).toBe(true);
    expect(await page.getByRole('alert').textContent()).toContain('Signing in with Corp SSO failed');

    // The one-time upstream state is gone: replaying the callback does not work either.
    const replay = await page.goto(`${downstream.url}/connectors/corp/callback?code=x&state=wrong`);
    expect(replay!.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('could not be matched to your browser');

    expect(rp.signIns).toHaveLength(before.signIns);
    expect(await downstream.gh.users.list()).toHaveLength(before.users);
  });

  it('refuses a real upstream code whose state was changed on the way back', async () => {
    const before = { signIns: rp.signIns.length, lastLogin: (await downstream.gh.users.list())[0]?.last_login_at };
    const page = await newPage();
    await startCorpLogin(page);
    await page.getByLabel('E-mail address').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    // Allow with the browser's cookies, but stop at the upstream's redirect back to the
    // downstream (Chromium's request interception does not see redirected requests).
    const form = page.locator('form', { has: page.getByRole('button', { name: 'Allow' }) });
    const action = new URL((await form.getAttribute('action'))!, page.url()).href;
    const csrf = await form.locator('input[name="_csrf"]').inputValue();
    const http = page.context().request;
    let answer = await http.post(action, { form: { _csrf: csrf, decision: 'allow' }, maxRedirects: 0 });
    let genuine: URL | undefined;
    for (let hops = 0; hops < 5 && !genuine; hops += 1) {
      const location = answer.headers().location;
      expect(location, `redirect expected, got ${answer.status()}`).toBeTruthy();
      const next = new URL(location!, answer.url());
      if (next.origin === downstream.url && next.pathname === '/connectors/corp/callback') genuine = next;
      else answer = await http.get(next.href, { maxRedirects: 0 });
    }
    expect(genuine?.searchParams.get('code')).toBeTruthy();
    expect(genuine?.searchParams.get('iss')).toBe(upstream.url);

    // Same code, same issuer, another state: the response is not for this browser's request.
    const tampered = new URL(genuine!);
    tampered.searchParams.set('state', `${genuine!.searchParams.get('state')}x`);
    const response = await page.goto(tampered.href);
    expect(response!.status()).toBe(502);
    const alert = await page.getByRole('alert').textContent();
    expect(alert).toContain('Signing in with Corp SSO failed');
    expect(alert).toMatch(/state/);
    expect(await page.textContent('main')).not.toContain('Something went wrong on our side');
    await page.screenshot({ path: `${shots}/upstream-state-error-${kind}.png`, fullPage: true });

    // The genuine response, arriving after that, is refused too: the state was single-use.
    const late = await page.goto(genuine!.href);
    expect(late!.status()).toBe(400);
    expect(rp.signIns).toHaveLength(before.signIns);
    expect((await downstream.gh.users.list())[0]?.last_login_at).toEqual(before.lastLogin);
  });

  it('refuses a callback in a browser that never started an upstream login', async () => {
    const page = await newPage();
    const response = await page.goto(`${downstream.url}/connectors/corp/callback?code=forged&state=forged`);
    expect(response!.status()).toBe(400);
    expect(await page.getByRole('alert').textContent()).toContain('could not be matched to your browser');
  });
});
