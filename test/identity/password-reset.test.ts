/**
 * "Forgot password?" over HTTP, with mails through a real SMTP server, on
 * SQLite and PostgreSQL: the whole reset from the mail; the same answer (and
 * no mail) for an unknown address; opening the link (10 GET + 10 HEAD)
 * changes nothing; a link works once and for one hour (the injected clock
 * moves); the change ends the user's sessions and refresh tokens; limits per
 * address and per IP; the token only hashed in its table; CSRF. Plus the
 * confirmation link fixes: an address confirmed already says so, "continue
 * signing in" keeps the address, "send it again".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { sha256 } from '../../src/lib/secrets.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { signInToAccount } from '../helpers/account-login.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const hour = 3_600_000;

describe.each(databaseKinds)('password reset over HTTP on %s', (kind) => {
  let db: TestDatabase;
  let smtp: TestSmtp;
  let server: TestServer;
  let strict: TestServer;
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let counter = 0;
  const newEmail = (label: string) => `${label}-${kind}-${(counter += 1)}@example.com`;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    const raw = {
      clients: [web],
      connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }],
      mailer: { host: '127.0.0.1', port: smtp.port },
    };
    // Every test comes from 127.0.0.1: the per-IP limit is wide here and has its own server below.
    server = await startTestServer(db, { ...raw, security: { rateLimits: { passwordReset: { max: 10_000 } } } }, { clock });
    strict = await startTestServer(db, raw, { clock });
  });

  afterAll(async () => {
    await strict?.stop();
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  const createUser = async (email: string, password = 'the-old-password') =>
    (await server.gh.users.createLocal({ email, name: 'Reset Person', password }, 'test')).id;

  /** Opens the forgot form and posts it; returns the answer. */
  async function askReset(email: string, options: { at?: TestServer; browser?: Browserless; returnTo?: string } = {}): Promise<Response> {
    const at = options.at ?? server;
    const browser = options.browser ?? new Browserless();
    const query = options.returnTo ? `?return_to=${encodeURIComponent(options.returnTo)}` : '';
    const form = await browser.request(`${at.url}/forgot-password${query}`);
    expect(form.status).toBe(200);
    const csrf = csrfOf(await form.text());
    return browser.request(`${at.url}/forgot-password`, { form: { _csrf: csrf, email, ...(options.returnTo ? { return_to: options.returnTo } : {}) } });
  }

  /** The reset link of the newest mail to `email`, as the SMTP server got it. */
  async function linkFromMail(email: string, nth = 1): Promise<string> {
    const mails = () => smtp.received.filter((m) => m.to.includes(email) && m.subject === 'Reset your password');
    await smtp.waitFor(() => mails().length >= nth);
    const mail = mails()[nth - 1]!;
    const link = new RegExp(`${server.url.replace(/[.]/g, '\\.')}/reset-password/[A-Za-z0-9_-]+(?:\\?return_to=[A-Za-z0-9%._~-]+)?`).exec(mail.body)?.[0];
    if (!link) throw new Error(`no reset link in ${mail.body.slice(0, 600)}`);
    return link;
  }

  /** Opens the link, fills the form twice and posts it. */
  async function setPassword(link: string, password: string, again = password, browser = new Browserless()): Promise<Response> {
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    const url = new URL(link);
    const returnTo = url.searchParams.get('return_to');
    return browser.request(`${url.origin}${url.pathname}`, { form: { _csrf: csrfOf(html), password, again, ...(returnTo ? { return_to: returnTo } : {}) } });
  }

  const outboxTo = (email: string) => server.gh.db('mail_outbox').where({ to: email });
  const auditOf = (action: string, actor: string) => server.gh.db('audit_log').where({ action, actor });

  it('resets a forgotten password from the mail: the old password stops working, the new one signs in', async () => {
    const email = newEmail('whole');
    await createUser(email);
    const sent = await askReset(email);
    expect(sent.status).toBe(200);
    const html = await sent.text();
    expect(html).toContain('If an account exists for this address, we sent a link');
    const link = await linkFromMail(email);
    const mail = smtp.received.find((m) => m.to.includes(email))!;
    expect(mail.body).toContain('expires in 60 minutes');

    const opened = await new Browserless().request(link);
    expect(opened.status).toBe(200);
    const form = await opened.text();
    expect(form).toContain('Choose a new password');
    expect(form).toContain(email);
    expect(form).toMatch(/<form method="post" action="\/reset-password\/[A-Za-z0-9_-]+"/);

    const done = await setPassword(link, 'a-brand-new-password');
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Password changed');
    await expect(obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'the-old-password' })).rejects.toThrow(/401/);
    const { code } = await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'a-brand-new-password' });
    expect(code.length).toBeGreaterThan(10);
    expect(await auditOf('password.reset_requested', email)).toHaveLength(1);
    expect(await auditOf('password.reset', email)).toHaveLength(1);
  });

  it('answers an unknown address with the same page and status, and mails nothing', async () => {
    const known = newEmail('known');
    await createUser(known);
    const unknown = newEmail('nobody');
    const [a, b] = [await askReset(known), await askReset(unknown)];
    expect(a.status).toBe(b.status);
    const strip = (html: string, email: string) => html.replaceAll(email, 'EMAIL').replace(/name="_csrf" value="[^"]+"/, '');
    expect(strip(await b.text(), unknown)).toBe(strip(await a.text(), known));
    await linkFromMail(known);
    expect(await outboxTo(unknown)).toHaveLength(0);
    expect(smtp.received.some((m) => m.to.includes(unknown))).toBe(false);
    // Both asks are audited; only the known one was mailed.
    expect((await auditOf('password.reset_requested', unknown)).map((r: { details: string }) => JSON.parse(r.details).mailed)).toEqual([false]);
    // Not an address at all: the form again, with the reason.
    const bad = await askReset('not-an-address');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Enter a valid e-mail address');
  });

  it('changes nothing when the link is only opened: 10 GET and 10 HEAD leave it usable', async () => {
    const email = newEmail('scanner');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    const before = await server.gh.db('local_account').where({ email }).first();
    for (let i = 0; i < 10; i += 1) {
      expect((await fetch(link)).status).toBe(200);
      expect((await fetch(link, { method: 'HEAD' })).status).toBe(200);
    }
    expect(await server.gh.db('local_account').where({ email }).first()).toEqual(before);
    expect(
      await server.gh
        .db('password_reset')
        .where({ token_hash: sha256(new URL(link).pathname.split('/').pop()!) })
        .first(),
    ).toMatchObject({ used_at: null });
    expect((await setPassword(link, 'after-the-scanner')).status).toBe(200);
  });

  it('takes a link once: a second POST is refused with 410 and a way to ask again, the first password stays', async () => {
    const email = newEmail('once');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    const browser = new Browserless();
    const page = await browser.request(link);
    const csrf = csrfOf(await page.text());
    const url = new URL(link);
    const post = (password: string) => browser.request(`${url.origin}${url.pathname}`, { form: { _csrf: csrf, password, again: password } });
    expect((await post('first-new-password')).status).toBe(200);
    const second = await post('second-new-password');
    expect(second.status).toBe(410);
    const html = await second.text();
    expect(html).toContain('This reset link was already used');
    expect(html).toContain('href="/forgot-password"');
    const reopened = await browser.request(link);
    expect(reopened.status).toBe(410);
    await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'first-new-password' });
  });

  it('lets exactly one of two concurrent POSTs win', async () => {
    const email = newEmail('race');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    const browser = new Browserless();
    const csrf = csrfOf(await (await browser.request(link)).text());
    const url = new URL(link);
    const results = await Promise.all(
      ['racer-one-password', 'racer-two-password'].map((password) =>
        browser.request(`${url.origin}${url.pathname}`, { form: { _csrf: csrf, password, again: password } }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 410]);
    expect(await auditOf('password.reset', email)).toHaveLength(1);
  });

  it('expires a link after one hour (the clock moves), saying so with 410', async () => {
    const email = newEmail('late');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    skew += hour - 60_000;
    try {
      expect((await new Browserless().request(link)).status).toBe(200);
      skew += 61_000;
      const late = await new Browserless().request(link);
      expect(late.status).toBe(410);
      expect(await late.text()).toContain('This reset link has expired');
      // The form was open before the hour ran out: its POST is refused too.
      skew -= 61_000;
      const browser = new Browserless();
      const csrf = csrfOf(await (await browser.request(link)).text());
      skew += 61_000;
      const url = new URL(link);
      const posted = await browser.request(`${url.origin}${url.pathname}`, {
        form: { _csrf: csrf, password: 'too-late-password', again: 'too-late-password' },
      });
      expect(posted.status).toBe(410);
      await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'the-old-password' });
    } finally {
      skew = 0;
    }
  });

  it('ends the other sessions and refresh tokens of the account', async () => {
    const email = newEmail('sessions');
    await createUser(email);
    const signedIn = await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'the-old-password' });
    const tokens = await tokenRequest(server.url, web, {
      grant_type: 'authorization_code',
      code: signedIn.code,
      redirect_uri: redirectUri,
      code_verifier: signedIn.verifier,
    });
    expect(tokens.status).toBe(200);
    const refreshToken = String(tokens.body.refresh_token);
    expect(refreshToken.length).toBeGreaterThan(10);
    // The signed-in browser needs no password for a second authorization (its session lives).
    const again = await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'unused', browser: signedIn.browser });
    const rotated = await tokenRequest(server.url, web, {
      grant_type: 'authorization_code',
      code: again.code,
      redirect_uri: redirectUri,
      code_verifier: again.verifier,
    });
    expect(rotated.status).toBe(200);

    // Signed in to the account pages too (their own session).
    const account = await signInToAccount(server.url, email, 'the-old-password');
    expect((await account.request(`${server.url}/account`)).status).toBe(200);

    await askReset(email);
    expect((await setPassword(await linkFromMail(email), 'sessions-ended-password')).status).toBe(200);

    const accountAfter = await account.request(`${server.url}/account`);
    expect(accountAfter.status).toBe(302);
    expect(accountAfter.headers.get('location')).toContain('/account/login');

    const refused = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    // The old browser is asked for a password again: the session is gone.
    await expect(obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'the-old-password', browser: signedIn.browser })).rejects.toThrow(
      /401/,
    );
    await obtainCode(server.url, { clientId: 'web', redirectUri, email, password: 'sessions-ended-password', browser: signedIn.browser });
  });

  it('holds to the same rules as sign-up, and the two passwords must match', async () => {
    const email = newEmail('rules');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    const short = await setPassword(link, 'short');
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('at least 8 characters');
    const differ = await setPassword(link, 'one-long-password', 'another-long-password');
    expect(differ.status).toBe(400);
    expect(await differ.text()).toContain('The two passwords are not the same');
    // Refused input used nothing: the link still works.
    expect((await setPassword(link, 'finally-a-good-one')).status).toBe(200);
  });

  it('mails at most 3 links an hour to one address (the same answer past that), and again after the hour', async () => {
    const email = newEmail('limit');
    await createUser(email);
    for (let i = 0; i < 5; i += 1) {
      const answer = await askReset(email);
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain('If an account exists for this address');
    }
    expect(await outboxTo(email)).toHaveLength(3);
    skew += hour + 1000;
    try {
      expect((await askReset(email)).status).toBe(200);
      expect(await outboxTo(email)).toHaveLength(4);
    } finally {
      skew = 0;
    }
  });

  it('answers 429 past 10 asks from one IP within 15 minutes (security.rateLimits.passwordReset), and takes asks again after', async () => {
    skew += 10 * hour; // a window of its own
    try {
      for (let i = 0; i < 10; i += 1) expect((await askReset(newEmail('ip'), { at: strict })).status).toBe(200);
      const refused = await askReset(newEmail('ip'), { at: strict });
      expect(refused.status).toBe(429);
      expect(await refused.text()).toContain('Too many reset requests');
      skew += 15 * 60_000 + 1000;
      expect((await askReset(newEmail('ip'), { at: strict })).status).toBe(200);
    } finally {
      skew = 0;
    }
  });

  it('counts "send it again" in the sign-up window per IP (security.rateLimits.signup): 429 past 10 in 15 minutes', async () => {
    skew += 20 * hour;
    try {
      const browser = new Browserless();
      const csrf = csrfOf(await (await browser.request(`${strict.url}/signup`)).text());
      const resend = () => browser.request(`${strict.url}/signup/resend`, { form: { _csrf: csrf, email: newEmail('resend') } });
      for (let i = 0; i < 10; i += 1) expect((await resend()).status).toBe(200);
      expect((await resend()).status).toBe(429);
    } finally {
      skew = 0;
    }
  });

  it('stores the token only as its SHA-256', async () => {
    const email = newEmail('hashed');
    await createUser(email);
    await askReset(email);
    const link = await linkFromMail(email);
    const token = new URL(link).pathname.split('/').pop()!;
    const rows = await server.gh.db('password_reset').select('*');
    expect(rows.some((r: Record<string, unknown>) => r.token_hash === sha256(token))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('refuses the forms without the CSRF field with 403, changing nothing', async () => {
    const email = newEmail('csrf');
    await createUser(email);
    const browser = new Browserless();
    await browser.request(`${server.url}/forgot-password`);
    expect((await browser.request(`${server.url}/forgot-password`, { form: { email } })).status).toBe(403);
    expect(await outboxTo(email)).toHaveLength(0);
    await askReset(email);
    const link = await linkFromMail(email);
    await browser.request(link);
    const url = new URL(link);
    const forged = await browser.request(`${url.origin}${url.pathname}`, { form: { password: 'forged-password-1', again: 'forged-password-1' } });
    expect(forged.status).toBe(403);
    expect((await setPassword(link, 'the-real-new-one')).status).toBe(200);
  });

  it('keeps a sign-in under way: the login page links to the form, and "continue signing in" fills in the address', async () => {
    const email = newEmail('resume');
    await createUser(email);
    const browser = new Browserless();
    const auth = new URL(`${server.url}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'web',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    }).toString();
    const login = await browser.follow(auth.href, server.url);
    const loginHtml = await login.response.text();
    const forgot = /href="(\/forgot-password\?return_to=[^"]+)"/.exec(loginHtml)?.[1];
    expect(forgot, 'a "Forgot password?" link').toBeTruthy();
    expect(loginHtml).toContain('Forgot password?');
    const returnTo = decodeURIComponent(new URL(forgot!.replaceAll('&amp;', '&'), server.url).searchParams.get('return_to')!);
    expect(returnTo).toBe(new URL(login.url).pathname);
    // After a wrong password the link carries the address typed, and the form shows it.
    const wrong = await browser.request(`${login.url}/login`, { form: { _csrf: csrfOf(loginHtml), email, password: 'not-the-password' } });
    expect(wrong.status).toBe(401);
    const hinted = /href="(\/forgot-password\?[^"]+)"/.exec(await wrong.text())?.[1]?.replaceAll('&amp;', '&');
    expect(new URL(hinted!, server.url).searchParams.get('login_hint')).toBe(email);
    expect(await (await browser.request(`${server.url}${hinted}`)).text()).toContain(`value="${email}"`);

    const sent = await askReset(email, { browser, returnTo });
    expect(await sent.text()).toContain(`href="${returnTo}"`);
    const link = await linkFromMail(email);
    expect(link).toContain('?return_to=%2Finteraction%2F');
    const done = await setPassword(link, 'resumed-password', undefined, browser);
    const resume = /href="([^"]+)">Continue signing in/.exec(await done.text())?.[1]?.replaceAll('&amp;', '&');
    expect(resume).toBe(`${returnTo}?login_hint=${encodeURIComponent(email)}`);
    const back = await browser.request(`${server.url}${resume}`);
    expect(back.status).toBe(200);
    expect(await back.text()).toContain(`value="${email}"`);
  });
});

describe.each(databaseKinds)('e-mail confirmation links over HTTP on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let counter = 0;
  const newEmail = (label: string) => `${label}-${kind}-${(counter += 1)}@example.com`;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // Sign-ups and "send it again" share the per-IP sign-up window: wide here, every test comes from 127.0.0.1.
    server = await startTestServer(
      db,
      { clients: [web], connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }], security: { rateLimits: { signup: { max: 10_000 } } } },
      { clock },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const links = async (email: string): Promise<string[]> =>
    (await server.gh.db('mail_outbox').where({ to: email }).orderBy('id')).map(
      (row: { text: string }) => /http:\/\/\S+\/verify-email\/\S+/.exec(row.text)?.[0] ?? '',
    );

  async function signUp(browser: Browserless, email: string, returnTo?: string): Promise<string> {
    const csrf = csrfOf(await (await browser.request(`${server.url}/signup`)).text());
    const sent = await browser.request(`${server.url}/signup`, {
      form: { _csrf: csrf, name: 'Confirm Person', email, password: 'confirming-password', ...(returnTo ? { return_to: returnTo } : {}) },
    });
    expect(sent.status).toBe(200);
    return (await links(email)).at(-1)!;
  }

  /** Opens the link and presses its button (the CSRF value from the sign-up form when the page has no button). */
  async function confirm(browser: Browserless, link: string, password?: string): Promise<Response> {
    const csrf = csrfOf(await (await browser.request(link)).text()) || csrfOf(await (await browser.request(`${server.url}/signup`)).text());
    const url = new URL(link);
    const returnTo = url.searchParams.get('return_to');
    return browser.request(`${url.origin}${url.pathname}`, {
      form: { _csrf: csrf, ...(returnTo ? { return_to: returnTo } : {}), ...(password === undefined ? {} : { password }) },
    });
  }

  it('says a used link of a confirmed address is confirmed already and offers sign-in, not sign-up', async () => {
    const email = newEmail('used');
    const browser = new Browserless();
    const link = await signUp(browser, email, '/interaction/abc');
    expect((await confirm(browser, link)).status).toBe(200);
    for (const answer of [await browser.request(link), await confirm(browser, link)]) {
      expect(answer.status).toBe(200);
      const html = await answer.text();
      expect(html).toContain('Already confirmed');
      expect(html).toContain('just sign in');
      expect(html).not.toContain('Sign up again');
      expect(html).toContain(`href="/interaction/abc?login_hint=${encodeURIComponent(email).replaceAll('@', '%40')}"`);
    }
  });

  it('"continue signing in" after confirming carries the address', async () => {
    const email = newEmail('continue');
    const browser = new Browserless();
    const link = await signUp(browser, email, '/interaction/xyz');
    const html = await (await confirm(browser, link)).text();
    expect(html).toContain('E-mail confirmed');
    expect(/href="([^"]+)">Continue signing in/.exec(html)?.[1]?.replaceAll('&amp;', '&')).toBe(`/interaction/xyz?login_hint=${encodeURIComponent(email)}`);
  });

  it("never lets a resent link confirm a stranger's password: a later sign-up by someone else is refused at the owner's confirmation", async () => {
    const email = newEmail('owner');
    const owner = new Browserless();
    const ownersLink = await signUp(owner, email);
    // Someone else signs up with the owner's address and a password of their own: the owner's link is void.
    const stranger = new Browserless();
    const csrf = csrfOf(await (await stranger.request(`${server.url}/signup`)).text());
    await stranger.request(`${server.url}/signup`, { form: { _csrf: csrf, name: 'Stranger', email, password: 'strangers-password' } });
    const voided = await owner.request(ownersLink);
    expect(voided.status).toBe(400);
    // The owner asks for the mail again and opens the new link: the owner's password does not match the stranger's, so nothing is confirmed.
    const csrfOwner = csrfOf(await voided.text());
    expect((await owner.request(`${server.url}/signup/resend`, { form: { _csrf: csrfOwner, email } })).status).toBe(200);
    const resent = (await links(email)).at(-1)!;
    const refused = await confirm(owner, resent, 'confirming-password');
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('If someone else signed up with your address after you');
    expect(await server.gh.db('local_account').where({ email }).first()).toMatchObject({ email_verified_at: null });
    // Signing up again gives the owner their own password and a link that works.
    expect((await confirm(owner, await signUp(owner, email))).status).toBe(200);
    expect((await server.gh.db('local_account').where({ email }).first()).email_verified_at).toBeGreaterThan(0);
  });

  it('sends the confirmation again from the check-your-mail page, and from a link that expired, the same answer for unknown addresses', async () => {
    const email = newEmail('again');
    const browser = new Browserless();
    const csrf = csrfOf(await (await browser.request(`${server.url}/signup`)).text());
    const sent = await browser.request(`${server.url}/signup`, { form: { _csrf: csrf, name: 'Again', email, password: 'confirming-password' } });
    const sentHtml = await sent.text();
    expect(sentHtml).toContain('Send it again');
    expect(sentHtml).toContain('action="/signup/resend"');
    const resend = (address: string) => browser.request(`${server.url}/signup/resend`, { form: { _csrf: csrfOf(sentHtml), email: address } });
    const known = await resend(email);
    const unknown = await resend(newEmail('nobody'));
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(await known.text()).toContain('If an account at this address is waiting for confirmation');
    expect(await unknown.text()).toContain('If an account at this address is waiting for confirmation');
    const all = await links(email);
    expect(all).toHaveLength(2);
    // The new link asks for the sign-up password, and confirms with it.
    const resentPage = await (await browser.request(all[1]!)).text();
    expect(resentPage).toContain('The password you chose when you signed up');
    expect((await confirm(browser, all[1]!)).status).toBe(400);
    expect(await (await confirm(browser, all[1]!, 'confirming-password')).text()).toContain('E-mail confirmed');
    // A confirmed address gets no more links.
    await resend(email);
    expect(await links(email)).toHaveLength(2);
    // An unknown link offers the form too.
    const bad = await browser.request(`${server.url}/verify-email/not-a-real-token`);
    expect(bad.status).toBe(400);
    const badHtml = await bad.text();
    expect(badHtml).toContain('This confirmation link is invalid, already used or expired');
    expect(badHtml).toContain('Send it again');
    // A link that expired (24 hours): the form, the address filled in; its new link confirms.
    const late = newEmail('late');
    const lateLink = await signUp(browser, late, '/interaction/late');
    skew += 24 * hour + 1000;
    try {
      const expired = await browser.request(lateLink);
      expect(expired.status).toBe(400);
      const expiredHtml = await expired.text();
      expect(expiredHtml).toContain('Send it again');
      expect(expiredHtml).toContain(`value="${late}"`);
      expect(expiredHtml).toContain('name="return_to" value="/interaction/late"');
      const again = await browser.request(`${server.url}/signup/resend`, { form: { _csrf: csrfOf(expiredHtml), email: late, return_to: '/interaction/late' } });
      expect(again.status).toBe(200);
      const fresh = (await links(late)).at(-1)!;
      expect(fresh).toContain('?return_to=%2Finteraction%2Flate');
      expect(await (await confirm(browser, fresh, 'confirming-password')).text()).toContain('E-mail confirmed');
    } finally {
      skew = 0;
    }
    // Without the CSRF field: 403.
    expect((await browser.request(`${server.url}/signup/resend`, { form: { email } })).status).toBe(403);
  });
});
