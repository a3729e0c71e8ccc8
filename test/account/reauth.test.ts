/**
 * Re-authentication before adding or removing a second factor or passkey at
 * /account/security (issue 15), over HTTP, on SQLite and PostgreSQL. A
 * sign-in that asked the password moments ago counts for 5 minutes; after
 * that (the injected clock moved, never slept) the guarded pages send the
 * person to "Confirm it is you" and the guarded POSTs are refused (303 there,
 * 403 JSON for the passkey options) without changing anything. The password
 * or an authenticator code proves it again for 5 minutes; a wrong password
 * says it counts toward the sign-in limit, and the sign-in throttle refuses
 * (429) once it is reached, the right password included; CSRF on the form;
 * "Sign in again" goes through Gatehouse's sign-in (prompt=login) and back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { postAccountForm, signInToAccount, toAccountCallback } from '../helpers/account-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const password = 'correct horse battery staple';
const minute = 60_000;

describe.each(databaseKinds)('re-authentication at /account on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let counter = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(
      db,
      { connectors: [{ id: 'local', type: 'local', name: 'Email' }], security: { maxLoginFailures: 3, loginWindow: '15m' } },
      { clock },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  async function newPerson(): Promise<{ id: string; email: string; browser: Browserless }> {
    counter += 1;
    const email = `reauth-${kind}-${counter}@example.com`;
    const { id } = await server.gh.users.createLocal({ email, password }, 'test');
    return { id, email, browser: await signInToAccount(server.url, email, password) };
  }

  const url = (path: string) => `${server.url}${path}`;
  const confirmFor = (next: string) => `/account/security/confirm?next=${encodeURIComponent(next)}`;
  const locationOf = (response: Response) => new URL(response.headers.get('location') ?? '', server.url);

  /** Confirms with the password at the confirm page for `next`: the POST's answer. */
  async function confirmWithPassword(browser: Browserless, next: string, pass = password): Promise<Response> {
    return postAccountForm(browser, url(confirmFor(next)), url('/account/security/confirm'), { method: 'password', password: pass, next });
  }

  /** Adds an authenticator app through the page (proof needed); returns its secret. */
  async function addTotp(browser: Browserless): Promise<string> {
    const html = await (await browser.request(url('/account/security/totp'))).text();
    const secret = /id="totp-secret">([^<]+)</.exec(html)![1]!.replace(/\s+/g, '');
    const factor = /name="factor" value="([^"]+)"/.exec(html)![1]!;
    skew += minute;
    const done = await browser.request(url('/account/security/totp'), {
      form: { _csrf: csrfOf(html), factor, code: await totpCode(secret, timeStep(clock.now())), name: 'Phone' },
    });
    expect([200, 303]).toContain(done.status);
    return secret;
  }

  it('a fresh sign-in counts for 5 minutes; after that the pages and posts ask first and change nothing', async () => {
    const { id, browser } = await newPerson();
    // Just signed in with the password: adding an authenticator app needs nothing more.
    const page = await browser.request(url('/account/security/totp'));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Add an authenticator app');
    await addTotp(browser);
    expect(await server.gh.mfa.factors(id)).toHaveLength(1);
    const [factor] = await server.gh.mfa.factors(id);

    skew += 5 * minute;
    for (const path of [
      '/account/security/totp',
      '/account/security/passkeys',
      `/account/security/factors/remove?id=${factor!.id}`,
      '/account/security/recovery-codes/new',
    ]) {
      const response = await browser.request(url(path));
      expect(response.status, path).toBe(302);
      expect(`${locationOf(response).pathname}${locationOf(response).search}`, path).toBe(confirmFor(path));
    }
    const before = await server.gh.mfa.recoveryCodes(id);
    const codes = await postAccountForm(browser, url('/account/security'), url('/account/security/recovery-codes/new'));
    expect(codes.status).toBe(303);
    expect(locationOf(codes).pathname).toBe('/account/security/confirm');
    const removal = await postAccountForm(browser, url('/account/security'), url('/account/security/factors/remove'), { id: factor!.id });
    expect(removal.status).toBe(303);
    expect(locationOf(removal).pathname).toBe('/account/security/confirm');
    const options = await postAccountForm(browser, url('/account/security'), url('/account/security/passkeys/options'), { name: 'Laptop' });
    expect(options.status).toBe(403);
    expect(((await options.json()) as { error: string }).error).toContain('confirm it is you');
    // Nothing changed.
    expect(await server.gh.mfa.factors(id)).toHaveLength(1);
    expect(await server.gh.mfa.recoveryCodes(id)).toEqual(before);
  });

  it('the confirm page asks for the password in plain words; the right one opens the guarded pages for 5 minutes', async () => {
    const { id, browser } = await newPerson();
    skew += 6 * minute;
    const next = '/account/security/recovery-codes/new';
    const page = await browser.request(url(confirmFor(next)));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('For your safety, enter your password again to change how you sign in.');
    expect(html).toContain('Sign in again');
    expect(html).not.toContain('Code from your authenticator app');

    const ok = await confirmWithPassword(browser, next);
    expect(ok.status).toBe(303);
    expect(locationOf(ok).pathname).toBe(next);
    // The confirm page itself goes straight on now.
    const again = await browser.request(url(confirmFor(next)));
    expect(again.status).toBe(302);
    expect(locationOf(again).pathname).toBe(next);

    await addTotp(browser);
    skew += 2 * minute;
    const made = await postAccountForm(browser, url('/account/security'), url('/account/security/recovery-codes/new'));
    expect(made.status).toBe(200);
    expect(await made.text()).toContain('Save your recovery codes');
    const [factor] = await server.gh.mfa.factors(id);

    // 5 minutes after the proof: asked again.
    skew += 2 * minute;
    const late = await postAccountForm(browser, url('/account/security'), url('/account/security/factors/remove'), { id: factor!.id });
    expect(late.status).toBe(303);
    expect(locationOf(late).pathname).toBe('/account/security/confirm');
    expect(await server.gh.mfa.factors(id)).toHaveLength(1);
  });

  it('a code from the authenticator app proves it too; then a factor can be removed', async () => {
    const { id, browser } = await newPerson();
    const secret = await addTotp(browser);
    skew += 6 * minute;
    const [factor] = await server.gh.mfa.factors(id);
    const next = `/account/security/factors/remove?id=${factor!.id}`;
    const html = await (await browser.request(url(confirmFor(next)))).text();
    expect(html).toContain('Code from your authenticator app');
    const wrong = await browser.request(url('/account/security/confirm'), { form: { _csrf: csrfOf(html), method: 'code', code: '000000', next } });
    expect(wrong.status).toBe(400);
    skew += minute;
    const right = await browser.request(url('/account/security/confirm'), {
      form: { _csrf: csrfOf(html), method: 'code', code: await totpCode(secret, timeStep(clock.now())), next },
    });
    expect(right.status).toBe(303);
    expect(`${locationOf(right).pathname}${locationOf(right).search}`).toBe(next);
    const removed = await postAccountForm(browser, url(next), url('/account/security/factors/remove'), { id: factor!.id });
    expect(removed.status).toBe(303);
    expect(locationOf(removed).pathname).toBe('/account/security');
    expect(await server.gh.mfa.factors(id)).toHaveLength(0);
  });

  it('a wrong password says it counts toward the sign-in limit; at the limit the throttle refuses (429), the right one too', async () => {
    const { email, browser } = await newPerson();
    skew += 6 * minute;
    const next = '/account/security/totp';
    for (let i = 0; i < 3; i += 1) {
      const wrong = await confirmWithPassword(browser, next, 'not my password');
      expect(wrong.status).toBe(400);
      const text = await wrong.text();
      expect(text).toContain('That is not your password.');
      expect(text).toContain('count toward the same limit as at sign-in');
    }
    const throttled = await confirmWithPassword(browser, next);
    expect(throttled.status).toBe(429);
    expect(await throttled.text()).toContain('Too many failed sign-in attempts');
    expect(throttled.headers.get('retry-after')).toMatch(/^\d+$/);
    // The same count as Gatehouse's sign-in page: signing in from this IP waits too.
    await expect(toAccountCallback(new Browserless(), server.url, email, password)).rejects.toThrow(/429/);
    // Once the window has passed, the right password works.
    skew += 16 * minute;
    expect((await confirmWithPassword(browser, next)).status).toBe(303);
  });

  it('refuses the confirm form without the CSRF value (403) and unknown ways (400); never a 500', async () => {
    const { browser } = await newPerson();
    skew += 6 * minute;
    const noCsrf = await browser.request(url('/account/security/confirm'), { form: { method: 'password', password, next: '/account/security/totp' } });
    expect(noCsrf.status).toBe(403);
    const odd = await postAccountForm(browser, url(confirmFor('/account/security/totp')), url('/account/security/confirm'), {
      method: 'magic',
      next: 'https://evil.example',
    });
    expect(odd.status).toBe(400);
    expect(await odd.text()).toContain('Choose a way to confirm it is you.');
    const empty = await postAccountForm(browser, url(confirmFor('/account/security/totp')), url('/account/security/confirm'), { method: 'password' });
    expect(empty.status).toBe(400);
    // Another site as `next` is not followed: the Security page instead.
    const ok = await postAccountForm(browser, url(confirmFor('/account/security/totp')), url('/account/security/confirm'), {
      method: 'password',
      password,
      next: '//evil.example/account/security',
    });
    expect(ok.status).toBe(303);
    expect(locationOf(ok).href).toBe(url('/account/security'));
  });

  it('without a password of its own (an upstream or passkey account): the code form if there is one, else "Sign in again" alone', async () => {
    const { id, browser } = await newPerson();
    const secret = await addTotp(browser);
    // The password goes (as for someone who signs in through an upstream provider or with passkeys only).
    const link = await server.gh.db('user_idp').where({ user_id: id, connector_id: 'local' }).first();
    await server.gh.db('user_idp').where({ user_id: id, connector_id: 'local' }).delete();
    await server.gh.db('local_account').where({ id: link.subject }).delete();
    skew += 6 * minute;
    const next = '/account/security/recovery-codes/new';
    let html = await (await browser.request(url(confirmFor(next)))).text();
    expect(html).toContain('For your safety, enter a code from your authenticator app to change how you sign in.');
    expect(html).not.toContain('name="password"');
    const refused = await browser.request(url('/account/security/confirm'), { form: { _csrf: csrfOf(html), method: 'password', password, next } });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Your account has no password of its own.');
    skew += minute;
    const ok = await browser.request(url('/account/security/confirm'), {
      form: { _csrf: csrfOf(html), method: 'code', code: await totpCode(secret, timeStep(clock.now())), next },
    });
    expect(ok.status).toBe(303);

    // No factor either: only signing in again.
    await server.gh.mfa.reset(id, 'test');
    skew += 6 * minute;
    html = await (await browser.request(url(confirmFor(next)))).text();
    expect(html).toContain('For your safety, sign in again to change how you sign in.');
    expect(html).not.toContain('name="code"');
    expect(html).toMatch(/class="button primary" href="[^"]*fresh=1/);
  });

  it('"Sign in again" goes through the sign-in page even when signed in, and back to the guarded page', async () => {
    const { email, browser } = await newPerson();
    skew += 6 * minute;
    const next = '/account/security/passkeys';
    const html = await (await browser.request(url(confirmFor(next)))).text();
    const href = /href="([^"]*fresh=1[^"]*)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    // Gatehouse's sign-in asks for the password although this browser is signed in (prompt=login).
    const callback = await toAccountCallback(browser, server.url, email, password, new URL(href, server.url).href);
    const landed = await browser.request(callback);
    expect(landed.status).toBe(302);
    expect(`${locationOf(landed).pathname}${locationOf(landed).search}`).toBe(confirmFor(next));
    const onward = await browser.request(locationOf(landed).href);
    expect(onward.status).toBe(302);
    expect(locationOf(onward).pathname).toBe(next);
    expect((await browser.request(url(next))).status).toBe(200);
  });
});
