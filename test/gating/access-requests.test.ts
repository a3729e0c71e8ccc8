/**
 * Access requests (SPEC 3, rule 9) and the join page's guards, over HTTP with a
 * real SMTP server, on SQLite and PostgreSQL: a known user refused at a client
 * asks for access from the refusal page; approving it from the mailed link adds
 * a personal ACL token for that client and nothing else about the user changes;
 * the next authorization goes through. The join page refuses bad input with a
 * message, and token entry is rate limited per IP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JoinRequestRow } from '../../src/db/repos/join-requests.ts';
import { insertLocalAccount, type UserRow } from '../../src/db/repos/users.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const other = { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: [redirectUri] };
const serverConfig = (smtpPort?: number) => ({
  clients: [web, other],
  firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
  ...(smtpPort ? { mailer: { host: '127.0.0.1', port: smtpPort } } : {}),
  security: { maxLoginFailures: 100, loginWindow: '15m', passwordHashQueue: 200 },
});
const authUrl = (issuer: string, clientId: string) =>
  `${issuer}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid email profile', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
const linkIn = (body: string, path: string) => new RegExp(`https?://[^\\s"<>]+/${path}/[A-Za-z0-9_-]+`).exec(body)?.[0];

describe.each(databaseKinds)('access requests and the join page on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(db, serverConfig(smtp.port));
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  async function account(target: TestServer, label: string): Promise<{ email: string; password: string; name: string; subject: string }> {
    n += 1;
    const who = {
      email: `${label}${n}@example.com`,
      password: `password-of-${n}-xyz`,
      name: `${label} person ${String(n).padStart(4, '0')}`,
      subject: `acct-${kind}-${label}-${n}`,
    };
    await insertLocalAccount(target.gh.db, {
      id: who.subject,
      email: who.email,
      name: who.name,
      password_hash: await target.gh.passwords.hash(who.password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return who;
  }

  /** A first login without a token: returns the interaction URL, with the gate page showing. */
  async function atTheGate(
    target: TestServer,
    who: { email: string; password: string },
    browser = new Browserless(),
  ): Promise<{ browser: Browserless; interaction: string; csrf: string }> {
    const start = await browser.request(authUrl(target.url, 'web'));
    const interaction = new URL(start.headers.get('location')!, target.url).href;
    const login = await browser.request(interaction);
    const gate = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await login.text()), email: who.email, password: who.password } });
    const html = await gate.text();
    expect(gate.status).toBe(200);
    expect(html).toContain('An invitation is needed');
    return { browser, interaction, csrf: csrfOf(html) };
  }

  it('lets a known user refused at a client ask for access; approval adds a personal token and the next authorization goes through', async () => {
    const who = await account(server, 'known');
    const { token: otherToken } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['other'] }, 'test');
    const browser = new Browserless();
    await obtainCode(server.url, { clientId: 'other', redirectUri, email: who.email, password: who.password, extra: { acl_token: otherToken }, browser });
    const user = (await server.gh.users.lookup({ connectorId: 'local', subject: who.subject, emailVerified: true }))!;
    expect(user).toBeDefined();
    const before = (await server.gh.db('user').where({ id: user.id }).first()) as UserRow;
    expect((await server.gh.gate.accessList(user.id)).map((a) => a.client_id)).toEqual(['other']);
    const usersBefore = await server.gh.db('user').count<{ n: number | string }[]>({ n: '*' }).first();

    // Signed in already; web refuses: the "No access" page offers to ask.
    const refused = await browser.follow(authUrl(server.url, 'web'), server.url);
    const refusedHtml = await refused.response.text();
    expect(refused.response.status).toBe(403);
    expect(refusedHtml).toContain('No access to Web App');
    expect(refusedHtml).toContain('Ask for access');
    const interaction = refused.url;
    const joinPage = await browser.request(`${interaction}/join`);
    const joinHtml = await joinPage.text();
    expect(joinPage.status).toBe(200);
    expect(joinHtml).toMatch(/<h1>Ask for access<\/h1>/);
    expect(joinHtml).toContain(`value="${who.email}"`);
    expect(joinHtml).toContain(`value="${who.name}"`);
    const sent = await browser.request(`${interaction}/join`, {
      form: { _csrf: csrfOf(joinHtml), email: who.email, name: who.name, message: 'I moved to the web team.' },
    });
    expect(sent.status).toBe(202);
    expect(await sent.text()).toContain('Request sent');

    const [stored, ...more] = (await server.gh.db('join_request').where({ user_id: user.id })) as JoinRequestRow[];
    expect(more).toHaveLength(0);
    expect(stored).toMatchObject({
      kind: 'access',
      user_id: user.id,
      client_id: 'web',
      email: who.email,
      name: who.name,
      status: 'pending',
      connector_id: 'local',
      subject: who.subject,
    });

    const mail = await smtp.waitFor((m) => m.to.includes('boss@example.com') && m.subject === `Access request for Web App from ${who.name}`);
    expect(mail.body).toContain('asks for access to Web App');
    const approve = linkIn(mail.body, 'approval')!;
    const page = await browser.request(approve);
    const pageHtml = await page.text();
    expect(page.status).toBe(200);
    expect(pageHtml).toContain('access to');
    const done = await browser.request(approve, { form: { _csrf: csrfOf(pageHtml) } });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Request approved');

    const decided = (await server.gh.db('join_request').where({ id: stored!.id }).first()) as JoinRequestRow;
    expect(decided.status).toBe('approved');
    expect(decided.acl_token_id).not.toBeNull();
    expect(decided.redeemed_at).not.toBeNull();
    const personal = await server.gh.aclTokens.get(decided.acl_token_id!);
    expect(personal).toMatchObject({ kind: 'personal', max_users: 1, uses: 1, revoked_at: null });
    expect(personal.users).toEqual([user.id]);
    expect(personal.clients.map((c) => c.client_id)).toEqual(['web']);
    expect((await server.gh.gate.accessList(user.id)).map((a) => a.client_id).sort()).toEqual(['other', 'web']);
    expect(await server.gh.gate.hasAccess(user.id, 'web')).toBe(true);

    // Nothing else about the user changed: same row, no second user, no new identity.
    const after = (await server.gh.db('user').where({ id: user.id }).first()) as UserRow;
    expect(after).toEqual(before);
    expect(await server.gh.db('user').count<{ n: number | string }[]>({ n: '*' }).first()).toEqual(usersBefore);
    expect(await server.gh.db('user_idp').where({ user_id: user.id })).toHaveLength(1);

    const told = await smtp.waitFor((m) => m.to.includes(who.email));
    expect(told.subject).toBe('You can now use Web App');
    expect(told.body).toContain('Sign in as usual');

    // The same browser session: no sign-in, no gate, straight to consent and then a code.
    const { verifier, challenge } = pkcePair();
    const next = await browser.follow(
      `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid email profile', redirect_uri: redirectUri, state: 'after-approval', code_challenge: challenge, code_challenge_method: 'S256' })}`,
      server.url,
    );
    const consentHtml = await next.response.text();
    expect(next.response.status).toBe(200);
    expect(consentHtml).toContain('name="decision"');
    expect(consentHtml).not.toContain('name="password"');
    expect(consentHtml).not.toContain('No access to');
    const landed = await browser.follow(`${next.url}/consent`, server.url, { form: { _csrf: csrfOf(consentHtml), decision: 'allow' } });
    expect(landed.url.startsWith(redirectUri)).toBe(true);
    const code = new URL(landed.url).searchParams.get('code')!;
    expect(new URL(landed.url).searchParams.get('state')).toBe('after-approval');
    expect(code).toBeTruthy();
    const tokens = await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(tokens.status).toBe(200);
    expect(tokens.body.id_token).toBeTruthy();
  });

  it('refuses an empty name, a bad e-mail address and an overlong message on the join page with a message, and stores nothing', async () => {
    const who = await account(server, 'sloppy');
    const { browser, interaction } = await atTheGate(server, who);
    const joinPage = await browser.request(`${interaction}/join`);
    const csrf = csrfOf(await joinPage.text());
    const cases: [Record<string, string>, string][] = [
      [{ email: who.email, name: '   ', message: 'keep me' }, 'Enter your name'],
      [{ email: 'not-an-email', name: who.name, message: 'keep me' }, 'Enter a valid e-mail address'],
      [{ email: '', name: who.name, message: '' }, 'Enter a valid e-mail address'],
      [{ email: who.email, name: who.name, message: 'x'.repeat(2001) }, 'The message is too long'],
    ];
    for (const [fields, message] of cases) {
      const res = await browser.request(`${interaction}/join`, { form: { _csrf: csrf, ...fields } });
      const html = await res.text();
      expect(res.status).toBe(400);
      expect(html).toContain(message);
      expect(html).toContain('role="alert"');
      // The form comes back with what was typed.
      if (fields.email) expect(html).toContain(`value="${fields.email}"`);
    }
    expect(await server.gh.db('join_request').where({ subject: who.subject })).toHaveLength(0);
    expect(await server.gh.db('mail_outbox').where('subject', 'like', `%${who.name}%`)).toHaveLength(0);

    // Then a good one goes through.
    const good = await browser.request(`${interaction}/join`, { form: { _csrf: csrf, email: who.email, name: who.name, message: '' } });
    expect(good.status).toBe(202);
    expect(await server.gh.db('join_request').where({ subject: who.subject })).toHaveLength(1);
  });

  it('keeps the pending request when someone asks twice: one request, one mail, and the page names the address the answer goes to', async () => {
    const who = await account(server, 'twice');
    const { browser, interaction } = await atTheGate(server, who);
    const joinPage = await browser.request(`${interaction}/join`);
    const csrf = csrfOf(await joinPage.text());
    const first = await browser.request(`${interaction}/join`, { form: { _csrf: csrf, email: who.email, name: who.name, message: 'first' } });
    expect(first.status).toBe(202);
    expect(await first.text()).toContain(`<strong>${who.email}</strong>`);
    const elsewhere = `elsewhere-${who.email}`;
    const second = await browser.request(`${interaction}/join`, { form: { _csrf: csrf, email: elsewhere, name: who.name, message: 'second' } });
    const secondHtml = await second.text();
    expect(second.status).toBe(202);
    expect(secondHtml).toContain(`<strong>${who.email}</strong>`);
    expect(secondHtml).not.toContain(elsewhere);
    const stored = (await server.gh.db('join_request').where({ subject: who.subject })) as JoinRequestRow[];
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ email: who.email, message: 'first', status: 'pending' });
    await smtp.waitFor((m) => m.to.includes('boss@example.com') && m.subject.endsWith(who.name));
    // Nothing left to send: a second mail for the second ask would have arrived by now.
    await server.gh.sender.drained();
    expect(smtp.received.filter((m) => m.subject.endsWith(who.name))).toHaveLength(1);
    expect(await server.gh.db('approval_link').where({ join_request_id: stored[0]!.id })).toHaveLength(2);
  });

  it('answers the 31st token entry from one IP within the window with a 429 page (fresh server)', async () => {
    const freshDb = await createTestDatabase(kind);
    const fresh = await startTestServer(freshDb, serverConfig());
    try {
      const who = await account(fresh, 'hammer');
      const { browser, interaction, csrf } = await atTheGate(fresh, who);
      for (let i = 0; i < 30; i += 1) {
        const res = await browser.request(`${interaction}/token`, { form: { _csrf: csrf, acl_token: `gha_wrong-${i}` } });
        expect(res.status, `attempt ${i + 1}`).toBe(404);
        expect(await res.text()).toContain('This invitation was not found');
      }
      const { row, token } = await fresh.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
      const limited = await browser.request(`${interaction}/token`, { form: { _csrf: csrf, acl_token: token } });
      expect(limited.status).toBe(429);
      const html = await limited.text();
      expect(html).toContain('Too many attempts');
      expect(html).not.toMatch(/at .*\.ts:\d+/);
      // Even a good token is not looked at once the limit is reached: nobody let in, nothing used.
      expect((await fresh.gh.aclTokens.get(row.id)).uses).toBe(0);
      expect(await fresh.gh.users.lookup({ connectorId: 'local', subject: who.subject, emailVerified: true })).toBeUndefined();
      // Join requests from the same IP share the limit.
      const joinPage = await browser.request(`${interaction}/join`);
      const joined = await browser.request(`${interaction}/join`, {
        form: { _csrf: csrfOf(await joinPage.text()), email: who.email, name: who.name, message: '' },
      });
      expect(joined.status).toBe(429);
      expect(await fresh.gh.db('join_request')).toHaveLength(0);
    } finally {
      await fresh.stop();
      await freshDb.drop();
    }
  });
});
