/**
 * "For my review" (/review) over HTTP, on SQLite and PostgreSQL (issue 13):
 * an approver of one app sees that app's pending requests and nothing of
 * another's, and deciding the other's is a 403 (checked on the server);
 * approving for 30 days lets the person in until the injected clock passes
 * 30 days, and the mailed link then says the request was already decided by
 * that approver; deny with a note; quorum 2 counted on the page; who holds
 * access, and End access through the confirmation page; an admin sees every
 * app; anyone else gets a 403; a POST without its CSRF value is a 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JoinRequestRow } from '../../src/db/repos/join-requests.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { postAccountForm, signInToAccount } from '../helpers/account-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const password = 'correct horse battery staple';
const day = 86_400_000;
const redirectUri = 'http://127.0.0.1:9/cb';
const app = (id: string, name: string, approvers: string[], approvals = 1) => ({
  ...testClients.web,
  client_id: id,
  client_secret: `${id}-secret-0123456789`,
  client_name: name,
  redirect_uris: [redirectUri],
  approvers,
  approvals,
});

describe.each(databaseKinds)('the review page on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;
  let issuer: string;
  /** Moves Gatehouse's clock without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(
      db,
      {
        connectors: [{ id: 'local', type: 'local', name: 'Email' }],
        clients: [
          app('alpha', 'Alpha App', ['ann@example.com']),
          app('beta', 'Beta App', ['bea@example.com']),
          app('quad', 'Quad App', ['ann@example.com', 'bob@example.com'], 2),
        ],
        admins: ['root@example.com'],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        mailer: { host: '127.0.0.1', port: smtp.port },
        security: { maxLoginFailures: 100, loginWindow: '15m', passwordHashQueue: 200 },
      },
      { clock },
    );
    issuer = server.url;
    for (const email of ['ann@example.com', 'bea@example.com', 'bob@example.com', 'root@example.com', 'zed@example.com']) {
      await server.gh.users.createLocal({ email, password }, 'test');
    }
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  const row = async (id: string): Promise<JoinRequestRow> => (await server.gh.db('join_request').where({ id }).first()) as JoinRequestRow;
  const review = async (browser: Browserless) => {
    const res = await browser.request(`${issuer}/review`);
    return { status: res.status, html: await res.text() };
  };
  const signIn = (email: string) => signInToAccount(issuer, email, password);

  /** A known person (a local account) asking for access to an app: their request, and how to sign in as them. */
  async function asker(label: string, clientId: string, message = ''): Promise<{ email: string; request: JoinRequestRow }> {
    n += 1;
    const email = `${label}${n}@example.com`;
    const user = await server.gh.users.createLocal({ email, password, name: `${label} person ${n}` }, 'test');
    const idp = await server.gh.db('user_idp').where({ user_id: user.id }).first();
    const request = await server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: idp.subject as string, emailVerified: true },
      userId: user.id,
      clientId,
      email,
      name: `${label} person ${n}`,
      message,
    });
    return { email, request };
  }
  const signsInTo = (clientId: string, email: string) => obtainCode(issuer, { clientId, redirectUri, email, password });

  it('shows an approver their app’s requests only; deciding another app’s request is a 403; a POST without CSRF is a 403', async () => {
    const mine = await asker('alphaone', 'alpha', 'I work on Alpha');
    const theirs = await asker('betaone', 'beta', 'I work on Beta');
    const ann = await signIn('ann@example.com');
    const page = await review(ann);
    expect(page.status).toBe(200);
    expect(page.html).toContain('For my review');
    expect(page.html).toContain(mine.email);
    expect(page.html).toContain('I work on Alpha');
    expect(page.html).toContain('Alpha App');
    expect(page.html).not.toContain(theirs.email);
    expect(page.html).not.toContain('Beta App');
    expect(page.html).toContain('aria-current="page"');

    const refused = await postAccountForm(ann, `${issuer}/review`, `${issuer}/review/requests/${theirs.request.id}/approve`, { for: '' });
    expect(refused.status).toBe(403);
    const deniedToo = await postAccountForm(ann, `${issuer}/review`, `${issuer}/review/requests/${theirs.request.id}/deny`, { note: 'no' });
    expect(deniedToo.status).toBe(403);
    expect((await row(theirs.request.id)).status).toBe('pending');

    const noCsrf = await ann.request(`${issuer}/review/requests/${mine.request.id}/approve`, { form: { for: '' } });
    expect(noCsrf.status).toBe(403);
    expect((await row(mine.request.id)).status).toBe('pending');
  });

  it('approves for 30 days: the person gets in until the clock passes 30 days, and the mailed link says already decided', async () => {
    const { email, request } = await asker('timed', 'alpha');
    const mail = await smtp.waitFor((m) => m.to.includes('ann@example.com') && m.body.includes(email));
    const link = /Approve: (https?:\/\/\S+)/.exec(mail.body)?.[1];
    expect(link).toBeDefined();
    await expect(signsInTo('alpha', email)).rejects.toThrow(/No access/);

    const ann = await signIn('ann@example.com');
    const approved = await postAccountForm(ann, `${issuer}/review`, `${issuer}/review/requests/${request.id}/approve`, { for: '30d' });
    expect(approved.status).toBe(303);
    expect(new URL(approved.headers.get('location')!, issuer).pathname).toBe('/review');
    const after = await review(ann);
    expect(after.html).toContain('can now use the app for 30 days');
    expect(after.html).not.toContain(`/review/requests/${request.id}/`);
    const decided = await row(request.id);
    expect(decided.status).toBe('approved');
    expect(decided.decided_by).toBe('ann@example.com');
    const audit = await server.gh.db('audit_log').where({ subject: request.id, action: 'join_request.approved' }).first();
    expect(audit.actor).toMatch(/^user:/);

    const opened = await fetch(link!);
    expect(opened.status).toBe(409);
    expect(await opened.text()).toContain('already been decided: it was approved by ann@example.com');

    await signsInTo('alpha', email);
    expect(after.html).toContain(email); // listed under "Who has access"
    skew += 29 * day;
    await signsInTo('alpha', email);
    skew += 2 * day;
    await expect(signsInTo('alpha', email)).rejects.toThrow(/No access/);
  });

  it('denies with a note, counts a quorum of 2 on the page, and lets an admin see every app', async () => {
    const beta = await asker('denyme', 'beta');
    const bea = await signIn('bea@example.com');
    const denied = await postAccountForm(bea, `${issuer}/review`, `${issuer}/review/requests/${beta.request.id}/deny`, { note: 'Only the Beta team' });
    expect(denied.status).toBe(303);
    expect((await review(bea)).html).toContain('a polite refusal');
    const row1 = await row(beta.request.id);
    expect(row1.status).toBe('denied');
    expect(row1.decision_note).toBe('Only the Beta team');
    expect(row1.decided_by).toBe('bea@example.com');

    const quad = await asker('quorum', 'quad');
    const ann = await signIn('ann@example.com');
    expect((await review(ann)).html).toContain('0 of 2 approvals');
    const first = await postAccountForm(ann, `${issuer}/review`, `${issuer}/review/requests/${quad.request.id}/approve`, { for: '' });
    expect(first.status).toBe(303);
    const annPage = await review(ann);
    expect(annPage.html).toContain('Your approval is counted: 1 of 2');
    expect(annPage.html).toContain('1 of 2 approvals');
    expect(annPage.html).not.toContain(`/review/requests/${quad.request.id}/approve`); // counted once: no second Approve for Ann
    expect((await row(quad.request.id)).status).toBe('pending');
    const bob = await signIn('bob@example.com');
    expect((await review(bob)).html).toContain('approved by ann@example.com');
    await postAccountForm(bob, `${issuer}/review`, `${issuer}/review/requests/${quad.request.id}/approve`, { for: '' });
    expect((await row(quad.request.id)).status).toBe('approved');
    await signsInTo('quad', quad.email);
    // Approving again: told it is decided, nothing changes.
    const again = await postAccountForm(ann, `${issuer}/review`, `${issuer}/review/requests/${quad.request.id}/deny`, {});
    expect(again.status).toBe(303);
    expect((await review(ann)).html).toContain('already been decided: it was approved by bob@example.com');

    const a = await asker('foradmin', 'alpha');
    const b = await asker('foradmin', 'beta');
    const root = await signIn('root@example.com');
    const rootPage = await review(root);
    expect(rootPage.status).toBe(200);
    expect(rootPage.html).toContain(a.email);
    expect(rootPage.html).toContain(b.email);
    expect(rootPage.html).toContain('every app');
  });

  it('lists who holds access and ends one person’s access after asking; another app’s approver is refused', async () => {
    const { email, request } = await asker('holder', 'alpha');
    await server.gh.joinRequests.decide(request.id, 'approve', 'test');
    const holderId = (await server.gh.db('user').where({ email }).first()).id as string;
    await signsInTo('alpha', email);

    const ann = await signIn('ann@example.com');
    const page = await review(ann);
    const endLink = `/review/access/alpha/${encodeURIComponent(holderId)}/end`;
    expect(page.html).toContain(endLink);

    const bea = await signIn('bea@example.com');
    expect((await bea.request(`${issuer}${endLink}`)).status).toBe(403);
    expect((await postAccountForm(bea, `${issuer}/review`, `${issuer}${endLink}`)).status).toBe(403);
    expect(await server.gh.gate.hasAccess(holderId, 'alpha')).toBe(true);

    const confirm = await ann.request(`${issuer}${endLink}`);
    const html = await confirm.text();
    expect(confirm.status).toBe(200);
    expect(html).toContain('End access?');
    expect(html).toContain('Alpha App');
    expect(await server.gh.gate.hasAccess(holderId, 'alpha')).toBe(true); // the GET changes nothing
    const ended = await ann.request(`${issuer}${endLink}`, { form: { _csrf: csrfOf(html) } });
    expect(ended.status).toBe(303);
    expect((await review(ann)).html).toContain('can no longer use Alpha App');
    expect(await server.gh.gate.hasAccess(holderId, 'alpha')).toBe(false);
    await expect(signsInTo('alpha', email)).rejects.toThrow(/No access/);
    const audit = await server.gh.db('audit_log').where({ subject: holderId, action: 'access.revoked' }).first();
    expect(audit.actor).toMatch(/^user:/);
  });

  it('gives a plain 403 page to someone who approves for no app', async () => {
    const zed = await signIn('zed@example.com');
    const page = await review(zed);
    expect(page.status).toBe(403);
    expect(page.html).toContain('you do not decide requests for any app');
    expect((await postAccountForm(zed, `${issuer}/account`, `${issuer}/review/requests/nope/approve`, { for: '' })).status).toBe(403);
  });
});
