/**
 * The people's pages over HTTP, on SQLite and PostgreSQL (issue 13): signing
 * in to /account through the built-in `gatehouse-account` client with gating
 * on (no invitation needed to see one's own account); My apps lists the app
 * an invitation gives, with its end date and a link to open it; the Security
 * page: a password change needs the current password and ends the other
 * sign-ins (another browser's account session, an app's refresh token) but
 * not this one; one app signed out; sign out everywhere ends a refresh token;
 * the last identity cannot be unlinked; CSRF on every POST; the guard; a
 * disabled user and an idle session signed out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { accountSessionOf, postAccountForm, signInToAccount } from '../helpers/account-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const password = 'correct horse battery staple';
const newPassword = 'a brand new passphrase 42';
const day = 86_400_000;

describe.each(databaseKinds)('people pages on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  /** Moves Gatehouse's clock (session idle and age) without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let issuer: string;
  let accessEnds: number;
  let annPassword = password;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(
      db,
      {
        connectors: [{ id: 'local', type: 'local', name: 'Email' }],
        clients: [
          { ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'], client_uri: 'https://web.example.com/home' },
          {
            client_id: 'portal',
            client_secret: 'portal-secret-0123456789',
            client_name: 'Portal',
            redirect_uris: ['https://portal.example.com/cb'],
            initiate_login_uri: 'https://portal.example.com/login',
          },
        ],
        admins: ['root@example.com'],
        // Gating on, manual: only invitations open apps.
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      },
      { clock },
    );
    issuer = server.url;
    const { gh } = server;
    accessEnds = clock.now() + 30 * day;
    const invitation = await gh.aclTokens.create({ maxUsers: 5, clients: ['web'], clientExpiresAt: accessEnds, description: 'Team' }, 'test');
    for (const email of ['ann@example.com', 'bob@example.com', 'carl@example.com', 'root@example.com']) {
      await gh.users.createLocal(
        { email, password },
        'test',
        email === 'ann@example.com' ? (trx, u) => gh.gate.attachToken(trx, u.id, invitation.row.id, 'test') : undefined,
      );
    }
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const userId = async (email: string): Promise<string> => (await server.gh.db('user').where({ email }).first()).id as string;
  /** A refresh token of the `web` app for ann, through its own browser. */
  const webRefreshToken = async (): Promise<string> => {
    const { code, verifier, redirectUri } = await obtainCode(issuer, {
      clientId: 'web',
      redirectUri: 'http://127.0.0.1:9/cb',
      email: 'ann@example.com',
      password: annPassword,
    });
    const tokens = await tokenRequest(issuer, testClients.web, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri });
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    return tokens.body.refresh_token as string;
  };
  const refresh = (token: string) => tokenRequest(issuer, testClients.web, { grant_type: 'refresh_token', refresh_token: token });

  it('sends a signed-out browser to sign in, and back to the page it asked for', async () => {
    const signedOut = new Browserless();
    for (const path of ['/account/security', '/review']) {
      const first = await signedOut.request(`${issuer}${path}`);
      expect(first.status).toBe(302);
      expect(first.headers.get('location')).toBe(`/account/login?next=${encodeURIComponent(path)}`);
    }
    // Only same-site paths under /account or /review are kept.
    const login = await signedOut.request(`${issuer}/account/login?next=${encodeURIComponent('//evil.example/account')}`);
    expect(new URL(login.headers.get('location')!).searchParams.get('client_id')).toBe('gatehouse-account');
    const browser = await signInToAccount(issuer, 'ann@example.com', password);
    expect(accountSessionOf(browser, issuer)).toBeTruthy();
    // The session id is stored hashed, with the Gatehouse sign-in it came from.
    const rows = await server.gh.db('account_session').where({ user_id: await userId('ann@example.com') });
    expect(rows).toHaveLength(1);
    expect(rows[0].id).not.toBe(accountSessionOf(browser, issuer));
    expect(rows[0].oidc_session_uid).toBeTruthy();
    // The account client never needs an invitation, and is never a client with access.
    expect(await server.gh.gate.hasAccess(await userId('ann@example.com'), 'gatehouse-account')).toBe(false);
  });

  it('My apps: the invited app with the invitation, its end date and a link to open it; nothing else', async () => {
    const browser = await signInToAccount(issuer, 'ann@example.com', password);
    const page = await browser.request(`${issuer}/account`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Signed in as <strong>ann@example.com</strong>');
    expect(html).toContain('Web App');
    expect(html).toContain('Invitation “Team”');
    const ends = new Date(accessEnds).toISOString();
    expect(html).toContain(`Access ends <time datetime="${ends}">${ends.slice(0, 10)} ${ends.slice(11, 16)} UTC</time>`);
    expect(html).toContain('href="https://web.example.com/home"');
    expect(html).not.toContain('Portal');
    expect(html).toMatch(/<a href="\/account" aria-current="page">My apps<\/a>/);
    // An approver or admin sees "For my review"; ann does not.
    expect(html).not.toContain('For my review');
    const root = await (await (await signInToAccount(issuer, 'root@example.com', password)).request(`${issuer}/account`)).text();
    expect(root).toContain('For my review');
    expect(root).toContain('You have no apps yet');
  });

  it('the app link: initiate_login_uri with iss, else client_uri, else the first redirect URI origin', async () => {
    const { openLink } = await import('../../src/account/pages/apps.ts');
    expect(openLink({ metadata: { initiate_login_uri: 'https://portal.example.com/login?x=1' }, redirectUris: [] }, issuer)).toBe(
      `https://portal.example.com/login?x=1&iss=${encodeURIComponent(issuer)}`,
    );
    expect(openLink({ metadata: { client_uri: 'https://a.example/' }, redirectUris: ['https://b.example/cb'] }, issuer)).toBe('https://a.example/');
    expect(openLink({ metadata: { client_uri: 'javascript:alert(1)' }, redirectUris: ['https://b.example/cb'] }, issuer)).toBe('https://b.example/');
    expect(openLink({ metadata: {}, redirectUris: [] }, issuer)).toBeNull();
  });

  it('refuses every POST without the CSRF value (403)', async () => {
    const browser = await signInToAccount(issuer, 'bob@example.com', password);
    for (const path of ['/account/logout', '/account/security/password', '/account/security/sign-out-everywhere', '/account/security/identities/unlink']) {
      const response = await browser.request(`${issuer}${path}`, { form: { current: password, password: newPassword, confirm: newPassword } });
      expect(response.status, path).toBe(403);
    }
    expect((await browser.request(`${issuer}/account`)).status).toBe(200);
  });

  it('a password change needs the current password, and ends the other sign-ins but not this one', async () => {
    const browser = await signInToAccount(issuer, 'ann@example.com', password);
    const other = await signInToAccount(issuer, 'ann@example.com', password);
    const token = await webRefreshToken();
    const security = `${issuer}/account/security`;
    const action = `${security}/password`;

    const wrong = await postAccountForm(browser, security, action, { current: 'not my password', password: newPassword, confirm: newPassword });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('That is not your current password.');
    const mismatch = await postAccountForm(browser, security, action, { current: password, password: newPassword, confirm: `${newPassword}!` });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.text()).toContain('The two new passwords are not the same');
    const missing = await postAccountForm(browser, security, action, { current: '', password: newPassword, confirm: newPassword });
    expect(missing.status).toBe(400);
    // Nothing changed: the refresh token still works.
    const stillGood = await refresh(token);
    expect(stillGood.status).toBe(200);

    const changed = await postAccountForm(browser, security, action, { current: password, password: newPassword, confirm: newPassword });
    expect(changed.status).toBe(303);
    expect(changed.headers.get('location')).toBe('/account/security');
    annPassword = newPassword;
    const after = await browser.request(security);
    expect(after.status).toBe(200);
    expect(await after.text()).toContain('Your password was changed.');
    // The app's refresh token (the rotated one too) and the other browser's account session ended.
    expect((await refresh(stillGood.body.refresh_token as string)).body.error).toBe('invalid_grant');
    expect((await other.request(`${issuer}/account`)).status).toBe(302);
    // The new password signs in; the old one does not.
    await signInToAccount(issuer, 'ann@example.com', newPassword);
    await expect(signInToAccount(issuer, 'ann@example.com', password)).rejects.toThrow();
  });

  it('lists the sign-ins and signs out one app', async () => {
    const browser = await signInToAccount(issuer, 'ann@example.com', annPassword);
    const token = await webRefreshToken();
    const html = await (await browser.request(`${issuer}/account/security`)).text();
    expect(html).toContain('This browser');
    const handle = /sign-ins\/end\?handle=([0-9a-f]{32})">Sign out<span class="visually-hidden"> Web App/.exec(html)?.[1];
    expect(handle, html).toBeTruthy();
    // The page never shows a refresh token or session id.
    expect(html).not.toContain(token);
    const confirm = await browser.request(`${issuer}/account/security/sign-ins/end?handle=${handle}`);
    expect(await confirm.text()).toContain('Sign out Web App?');
    const ended = await postAccountForm(browser, `${issuer}/account/security`, `${issuer}/account/security/sign-ins/end`, { handle: handle! });
    expect(ended.status).toBe(303);
    expect((await refresh(token)).body.error).toBe('invalid_grant');
    expect((await browser.request(`${issuer}/account`)).status).toBe(200);
  });

  it('sign out everywhere ends every session and refresh token at once', async () => {
    const browser = await signInToAccount(issuer, 'ann@example.com', annPassword);
    const token = await webRefreshToken();
    expect((await browser.request(`${issuer}/account/security/sign-out-everywhere`)).status).toBe(200);
    const done = await postAccountForm(browser, `${issuer}/account/security`, `${issuer}/account/security/sign-out-everywhere`);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/account/login');
    expect((await refresh(token)).body.error).toBe('invalid_grant');
    expect((await browser.request(`${issuer}/account`)).status).toBe(302);
    const id = await userId('ann@example.com');
    expect(await server.gh.db('account_session').where({ user_id: id })).toHaveLength(0);
    expect(await server.gh.db('oidc_model').where({ account_id: id }).whereIn('kind', ['Session', 'RefreshToken'])).toHaveLength(0);
    const audited = await server.gh.db('audit_log').where({ action: 'user.signed_out', subject: id }).orderBy('id');
    expect(audited.map((a) => JSON.parse(a.details as string).which)).toEqual(['app', 'everywhere']);
  });

  it('refuses to unlink the last identity, with a message', async () => {
    const browser = await signInToAccount(issuer, 'bob@example.com', password);
    const id = await userId('bob@example.com');
    const [link] = await server.gh.db('user_idp').where({ user_id: id });
    const html = await (await browser.request(`${issuer}/account/security`)).text();
    expect(html).toContain('Your only way to sign in');
    const refused = await postAccountForm(browser, `${issuer}/account/security`, `${issuer}/account/security/identities/unlink`, {
      connector: link.connector_id,
      subject: link.subject,
    });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('This is the only way you sign in to this account');
    expect(await server.gh.db('user_idp').where({ user_id: id })).toHaveLength(1);
  });

  it('signs out a user who was disabled, a session whose Gatehouse sign-in ended, and a session idle for an hour', async () => {
    const browser = await signInToAccount(issuer, 'carl@example.com', password);
    expect((await browser.request(`${issuer}/account`)).status).toBe(200);
    const id = await userId('carl@example.com');
    await server.gh.users.setStatus(id, 'disabled', 'test');
    const refused = await browser.request(`${issuer}/account`);
    expect(refused.status).toBe(302);
    expect(refused.headers.get('location')).toBe('/account/login');
    expect(await server.gh.db('account_session').where({ user_id: id })).toHaveLength(0);
    await server.gh.users.setStatus(id, 'active', 'test');

    // The account session lives only as long as the Gatehouse sign-in it came from (a password reset ends that one).
    const again = await signInToAccount(issuer, 'carl@example.com', password);
    expect((await again.request(`${issuer}/account`)).status).toBe(200);
    await server.gh.db('oidc_model').where({ account_id: id, kind: 'Session' }).delete();
    expect((await again.request(`${issuer}/account`)).status).toBe(302);
    expect(await server.gh.db('account_session').where({ user_id: id })).toHaveLength(0);

    const idle = await signInToAccount(issuer, 'bob@example.com', password);
    skew += 61 * 60_000;
    expect((await idle.request(`${issuer}/account`)).status).toBe(302);
  });

  it('signs out: the account session ends and Gatehouse is asked to end its own', async () => {
    const browser = await signInToAccount(issuer, 'bob@example.com', password);
    const out = await postAccountForm(browser, `${issuer}/account`, `${issuer}/account/logout`);
    expect(out.status).toBe(303);
    const end = new URL(out.headers.get('location')!);
    expect(end.pathname).toBe('/session/end');
    expect(end.searchParams.get('client_id')).toBe('gatehouse-account');
    expect(accountSessionOf(browser, issuer)).toBeUndefined();
    expect((await browser.request(`${issuer}/account`)).status).toBe(302);
  });

  it('answers an unknown page below /account with the site not-found page', async () => {
    const browser = await signInToAccount(issuer, 'bob@example.com', password);
    const missing = await browser.request(`${issuer}/account/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('Page not found');
  });
});
