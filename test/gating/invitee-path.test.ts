/**
 * The invitee's path over HTTP, on SQLite and PostgreSQL, with a real SMTP
 * server: the invitation page names each app with an Open link (the client's
 * `initiate_login_uri?iss=`, else the origin of its first redirect URI:
 * registration/clients.ts `openUrl`, the one My apps uses); the first login
 * through an invitation ends with a code at the app's redirect URI (tokens
 * follow); the page seen while waiting for approval names the address the
 * answer goes to; the approval mail names the app and links to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { configSchema } from '../../src/config/schema.ts';
import { createViews } from '../../src/http/views.ts';
import { openUrl } from '../../src/registration/clients.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = {
  ...testClients.web,
  redirect_uris: [redirectUri],
  initiate_login_uri: 'https://web.example.com/start',
  approvers: ['owner@example.com'],
};
const plain = { client_id: 'plain', client_secret: 'plain-secret-0123456789', client_name: 'Plain & Simple', redirect_uris: ['http://127.0.0.1:9/plain/cb'] };

/** `&` as the pages write it (autoescaped). */
const html = (text: string) => text.replace(/&/g, '&amp;');

describe.each(databaseKinds)("the invitee's path on %s", (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(db, {
      clients: [web, plain],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      mailer: { host: '127.0.0.1', port: smtp.port },
      security: { maxLoginFailures: 100, loginWindow: '15m', passwordHashQueue: 200 },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  const webOpen = () => `https://web.example.com/start?iss=${encodeURIComponent(server.url)}`;

  /** A person with a verified local account and no Gatehouse user yet. */
  async function newcomer(label: string): Promise<{ email: string; password: string; name: string }> {
    n += 1;
    const email = `${label}${n}@example.com`;
    const password = `password-of-${n}-xyz`;
    await insertLocalAccount(server.gh.db, {
      id: `acct-${kind}-${label}-${n}`,
      email,
      name: `${label} person ${n}`,
      password_hash: await server.gh.passwords.hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return { email, password, name: `${label} person ${n}` };
  }

  it('one rule for where an app opens: initiate_login_uri with iss, else client_uri, else the first redirect URI origin', () => {
    expect(openUrl({ metadata: { initiate_login_uri: 'https://a.example/go?x=1' }, redirectUris: [] }, 'https://id.example')).toBe(
      'https://a.example/go?x=1&iss=https%3A%2F%2Fid.example',
    );
    expect(openUrl({ metadata: { client_uri: 'https://a.example/' }, redirectUris: ['https://b.example/cb'] }, 'https://id.example')).toBe(
      'https://a.example/',
    );
    expect(openUrl({ metadata: { initiate_login_uri: 'javascript:alert(1)' }, redirectUris: ['https://b.example/cb'] }, 'https://id.example')).toBe(
      'https://b.example/',
    );
    expect(openUrl({ metadata: {}, redirectUris: [] }, 'https://id.example')).toBeNull();
  });

  it('the invitation page names each app with an Open link', async () => {
    const { token } = await server.gh.aclTokens.create({ maxUsers: 5, clients: ['web', 'plain'] }, 'test');
    const res = await fetch(`${server.url}/invite/${token}`);
    const page = await res.text();
    expect(res.status).toBe(200);
    expect(page).toContain('<strong>Web App</strong>');
    expect(page).toContain(`<strong>${html(plain.client_name)}</strong>`);
    expect(page).toContain(`href="${webOpen()}"`);
    expect(page).toContain('>Open Web App</a>');
    // No initiate_login_uri nor client_uri: the origin of its redirect URI.
    expect(page).toContain('href="http://127.0.0.1:9/"');
    expect(page).toContain(`>Open ${html(plain.client_name)}</a>`);
    // Nothing is used up by opening it.
    const { row } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test').then(async (made) => {
      await fetch(`${server.url}/invite/${made.token}`);
      return made;
    });
    expect(Number((await server.gh.db('acl_token').where({ id: row.id }).first()).uses)).toBe(0);
  });

  it('the first login through an invitation lands in the app: a code at its redirect URI, and tokens for it', async () => {
    const who = await newcomer('invited');
    const { token } = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    const browser = new Browserless();
    expect((await browser.request(`${server.url}/invite/${token}`)).status).toBe(200);
    const got = await obtainCode(server.url, { clientId: 'web', redirectUri, email: who.email, password: who.password, browser });
    expect(got.callbackUrl.startsWith(`${redirectUri}?`)).toBe(true);
    expect(new URL(got.callbackUrl).searchParams.get('iss')).toBe(server.url);
    const tokens = await tokenRequest(server.url, web, {
      grant_type: 'authorization_code',
      code: got.code,
      redirect_uri: redirectUri,
      code_verifier: got.verifier,
    });
    expect(tokens.status).toBe(200);
    expect(tokens.body.id_token).toEqual(expect.any(String));
    const user = await server.gh.db('user').where({ email: who.email }).first();
    expect(user).toBeDefined();
    expect((await server.gh.gate.accessList(user.id)).map((a) => a.client_id)).toContain('web');
  });

  it('the waiting page names the address the answer goes to, and the approval mail names the app and links to it', async () => {
    const who = await newcomer('waiting');
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const interaction = new URL((await browser.request(auth)).headers.get('location')!, server.url).href;
    const login = await browser.request(interaction);
    const gate = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await login.text()), email: who.email, password: who.password } });
    expect(await gate.text()).toContain('An invitation is needed');
    const joinHtml = await (await browser.request(`${interaction}/join`)).text();
    const sent = await browser.request(`${interaction}/join`, { form: { _csrf: csrfOf(joinHtml), email: who.email, name: who.name, message: 'please' } });
    const waiting = await sent.text();
    expect(sent.status).toBe(202);
    expect(waiting).toContain('Request sent');
    expect(waiting).toContain(`We will send a mail to <strong>${who.email}</strong> when someone decides.`);

    const [request] = await server.gh.db('join_request').where({ email: who.email });
    await server.gh.joinRequests.decide(request.id, 'approve', 'admin:test');
    const mail = await smtp.waitFor((m) => m.to.includes(who.email) && m.subject.includes('You can now use Web App'));
    expect(mail.body).toContain('Web App');
    // The mail's invitation link opens the invitation page, which links to the app.
    const invite = new RegExp(`${server.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/invite/\\S+`).exec(mail.body)?.[0];
    expect(invite).toBeDefined();
    const page = await (await fetch(invite!)).text();
    expect(page).toContain(`href="${webOpen()}"`);
    // …and the mail links to the app itself too.
    expect(mail.body).toContain(webOpen());
  });
});

describe('the approval mail (views/email/invitation)', () => {
  const views = createViews(configSchema.parse({ issuer: 'https://id.example', log: { level: 'silent' } }));
  const context = { brand: 'Gatehouse', name: "Ann O'Brien", clientName: 'Plain & Simple', link: 'https://id.example/invite/gha_x' };

  it('names the app and, given openUrl, links to it in the text and the HTML part', () => {
    for (const known of [true, false]) {
      const mail = views.mail('invitation', { ...context, known, openUrl: 'https://web.example.com/start?iss=https%3A%2F%2Fid.example' });
      expect(mail.text).toContain('Plain & Simple');
      expect(mail.text).toContain("Hello Ann O'Brien,");
      expect(mail.text).toContain('Open Plain & Simple:\n\nhttps://web.example.com/start?iss=https%3A%2F%2Fid.example');
      expect(mail.html).toContain('<a href="https://web.example.com/start?iss=https%3A%2F%2Fid.example">Open Plain &amp; Simple</a>');
      // The invitation link is for someone whose first sign-in is still to come.
      expect(mail.text.includes('https://id.example/invite/gha_x')).toBe(!known);
    }
  });

  it('without openUrl says how to get in without an Open line', () => {
    const mail = views.mail('invitation', { ...context, known: false });
    expect(mail.text).toContain('Sign in to Plain & Simple with the account you used when you asked');
    expect(mail.text).not.toContain('Open Plain');
    expect(mail.html).not.toContain('Open Plain');
  });
});
