/**
 * The approval links in the approvers' mail, over HTTP against a real SMTP
 * server, on SQLite and PostgreSQL: mail scanners that open (GET, HEAD) every
 * link change nothing; only the confirmation page's POST (with its CSRF pair)
 * decides, once; approve and deny racing on one request have exactly one
 * winner and one answer mailed; bad, unknown and expired links are refused in
 * plain words; a join request filed while SMTP is down is kept and mailed when
 * SMTP is back; per-client approvers get (and may decide) only their client's
 * requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertModel } from '../../src/db/repos/oidc-models.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { JoinRequestRow } from '../../src/db/repos/join-requests.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri], approvers: ['owner@example.com'] };
const other = { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: [redirectUri] };

/** Every distinct http(s) URL in a mail (text and HTML parts). */
const linksIn = (body: string): string[] => [...new Set(body.match(/https?:\/\/[^\s"'<>]+/g) ?? [])];
const approvalLinks = (mail: ReceivedMail): { approve: string; deny: string } => {
  const approve = /Approve: (https?:\/\/\S+)/.exec(mail.body)?.[1];
  const deny = /Deny: +(https?:\/\/\S+)/.exec(mail.body)?.[1];
  if (!approve || !deny) throw new Error(`no approval links in mail "${mail.subject}": ${mail.body.slice(0, 800)}`);
  return { approve, deny };
};

describe.each(databaseKinds)('approval links in the mail on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(db, {
      clients: [web, other],
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

  const count = async (table: string, where: Record<string, unknown> = {}): Promise<number> =>
    Number((await server.gh.db(table).where(where).count<{ n: number | string }[]>({ n: '*' }).first())?.n ?? 0);
  const request = async (id: string): Promise<JoinRequestRow> => (await server.gh.db('join_request').where({ id }).first()) as JoinRequestRow;
  const linksOf = async (id: string): Promise<{ action: string; approver: string; used_at: number | null }[]> =>
    server.gh.db('approval_link').where({ join_request_id: id }).select('action', 'approver', 'used_at');

  /** A person with a verified local account and no Gatehouse user yet. */
  async function newcomer(label: string): Promise<{ email: string; password: string; name: string; subject: string }> {
    n += 1;
    const email = `${label}${n}@example.com`;
    const password = `password-of-${n}-xyz`;
    const subject = `acct-${kind}-${label}-${n}`;
    const name = `${label} person ${String(n).padStart(4, '0')}`;
    await insertLocalAccount(server.gh.db, {
      id: subject,
      email,
      name,
      password_hash: await server.gh.passwords.hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    return { email, password, name, subject };
  }

  /** Signs in without a token (the gate page), opens the join page and sends it: what a person does in the browser. */
  async function askToJoin(
    who: { email: string; password: string; name: string },
    clientId: string,
    message = '',
  ): Promise<{ status: number; html: string; ms: number }> {
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const start = await browser.request(auth);
    const interaction = new URL(start.headers.get('location')!, server.url).href;
    const login = await browser.request(interaction);
    const gate = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(await login.text()), email: who.email, password: who.password } });
    const gateHtml = await gate.text();
    expect(gate.status, gateHtml.slice(0, 300)).toBe(200);
    expect(gateHtml).toContain('An invitation is needed');
    const joinPage = await browser.request(`${interaction}/join`);
    const joinHtml = await joinPage.text();
    expect(joinPage.status).toBe(200);
    expect(joinHtml).toContain(`value="${who.email}"`);
    const started = Date.now();
    const sent = await browser.request(`${interaction}/join`, { form: { _csrf: csrfOf(joinHtml), email: who.email, name: who.name, message } });
    return { status: sent.status, html: await sent.text(), ms: Date.now() - started };
  }

  /** Files a join request directly (no sign-in): faster where the HTTP join page is not the point. */
  async function fileDirect(clientId: string, label: string): Promise<JoinRequestRow> {
    n += 1;
    return server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `direct-${kind}-${label}-${n}`, emailVerified: true },
      clientId,
      email: `${label}${n}@example.com`,
      name: `${label} person ${String(n).padStart(4, '0')}`,
      message: '',
    });
  }

  const mailTo = (to: string, subjectPart: string) => smtp.waitFor((m) => m.to.includes(to) && m.subject.includes(subjectPart));

  /** Opens a confirmation page like a browser does: returns the page and a client holding its CSRF cookie. */
  async function openLink(link: string): Promise<{ browser: Browserless; status: number; html: string; csrf: string }> {
    const browser = new Browserless();
    const res = await browser.request(link);
    const html = await res.text();
    return { browser, status: res.status, html, csrf: csrfOf(html) };
  }
  const confirm = async (opened: { browser: Browserless; csrf: string }, link: string) => {
    const res = await opened.browser.request(link, { form: { _csrf: opened.csrf } });
    return { status: res.status, html: await res.text() };
  };

  it('lets mail scanners GET and HEAD every link without effect; only the confirmation POST decides, once', async () => {
    const who = await newcomer('scanned');
    const sent = await askToJoin(who, 'web', 'Hello from the scanner test');
    expect(sent.status).toBe(202);
    expect(sent.html).toContain('Request sent');
    const [row] = await server.gh.db('join_request').where({ email: who.email });
    expect(row).toBeDefined();
    const id = (row as JoinRequestRow).id;

    const mail = await mailTo('owner@example.com', who.name);
    expect(mail.body).toContain('Hello from the scanner test');
    const { approve, deny } = approvalLinks(mail);
    const links = linksIn(mail.body);
    expect(links).toEqual(expect.arrayContaining([approve, deny]));
    const tokensBefore = await count('acl_token');

    for (const link of links) {
      for (let i = 0; i < 10; i += 1) {
        const got = await fetch(link, { redirect: 'manual' });
        const html = await got.text();
        if (link === approve || link === deny) {
          expect(got.status).toBe(200);
          expect(html).toContain(link === approve ? 'Approve this request?' : 'Deny this request?');
          expect(html).toContain('Nothing has happened yet');
        }
        const head = await fetch(link, { method: 'HEAD', redirect: 'manual' });
        if (link === approve || link === deny) expect(head.status).toBe(200);
      }
    }
    expect((await request(id)).status).toBe('pending');
    expect((await request(id)).acl_token_id).toBeNull();
    const rows = await linksOf(id);
    expect(rows).toHaveLength(2);
    expect(rows.every((l) => l.used_at === null)).toBe(true);
    expect(await count('acl_token')).toBe(tokensBefore);
    expect(await count('mail_outbox', { to: who.email })).toBe(0);
    expect(smtp.received.filter((m) => m.to.includes(who.email))).toHaveLength(0);

    // The approver's own browser: GET for the CSRF pair, then the button.
    const opened = await openLink(approve);
    expect(opened.status).toBe(200);
    expect(opened.csrf).not.toBe('');
    const approved = await confirm(opened, approve);
    expect(approved.status).toBe(200);
    expect(approved.html).toContain('Request approved');
    const decided = await request(id);
    expect(decided.status).toBe('approved');
    expect(decided.decided_by).toBe('owner@example.com');
    expect(decided.acl_token_id).not.toBeNull();
    expect(await count('acl_token')).toBe(tokensBefore + 1);
    expect((await linksOf(id)).filter((l) => l.used_at !== null).map((l) => l.action)).toEqual(['approve']);

    // The same form sent again (a fresh GET can no longer give a form): refused, nothing changes.
    const again = await confirm(opened, approve);
    expect(again.status).toBe(409);
    expect(again.html).toContain('already been decided');
    const denyNow = await fetch(deny);
    expect(denyNow.status).toBe(409);
    expect(await denyNow.text()).toContain('already been decided');
    const approveNow = await fetch(approve);
    expect(approveNow.status).toBe(409);
    expect(await approveNow.text()).toContain('already been decided');
    expect(await count('acl_token')).toBe(tokensBefore + 1);

    const invitation = await mailTo(who.email, 'You can now use Web App');
    expect(linksIn(invitation.body).some((l) => l.startsWith(`${server.url}/invite/`))).toBe(true);
    await server.gh.sender.drained();
    expect(smtp.received.filter((m) => m.to.includes(who.email))).toHaveLength(1);
    expect(await count('mail_outbox', { to: who.email })).toBe(1);
  });

  it('gives approve and deny racing on one request exactly one winner and sends exactly one answer', async () => {
    const requests = await Promise.all(Array.from({ length: 5 }, () => fileDirect('other', 'racer')));
    const outcomes = await Promise.all(
      requests.map(async (req, i) => {
        const mail = await mailTo('boss@example.com', req.name!);
        const { approve, deny } = approvalLinks(mail);
        const [a, d] = await Promise.all([openLink(approve), openLink(deny)]);
        expect(a.status).toBe(200);
        expect(d.status).toBe(200);
        // Alternate which POST leaves first, so both sides get to win and to lose.
        const [approved, denied] =
          i % 2 === 0
            ? await Promise.all([confirm(a, approve), confirm(d, deny)])
            : ((await Promise.all([confirm(d, deny), confirm(a, approve)])).reverse() as [{ status: number; html: string }, { status: number; html: string }]);
        return { req, approved, denied };
      }),
    );
    const winners = { approve: 0, deny: 0 };
    for (const { req, approved, denied } of outcomes) {
      expect([approved.status, denied.status].sort()).toEqual([200, 409]);
      const loser = approved.status === 409 ? approved : denied;
      expect(loser.html).toContain('already been decided');
      const won = approved.status === 200 ? 'approve' : 'deny';
      winners[won] += 1;
      const row = await request(req.id);
      expect(row.status).toBe(won === 'approve' ? 'approved' : 'denied');
      expect(row.decided_by).toBe('boss@example.com');
      // The loser's transaction left nothing behind: no token for a denial, one for an approval; its link is unused.
      expect(row.acl_token_id === null).toBe(won === 'deny');
      const tokens = await server.gh.db('acl_token').where('description', 'like', `%${req.id}%`);
      expect(tokens).toHaveLength(won === 'approve' ? 1 : 0);
      expect((await linksOf(req.id)).filter((l) => l.used_at !== null).map((l) => l.action)).toEqual([won]);
      const answers = await server.gh.db('mail_outbox').where({ to: req.email });
      expect(answers).toHaveLength(1);
      expect(answers[0].subject).toBe(won === 'approve' ? 'You can now use Other App' : 'Your request for Other App');
    }
    expect(winners.approve + winners.deny).toBe(5);
    for (const { req } of outcomes) await smtp.waitFor((m) => m.to.includes(req.email));
    // Nothing left to send: a second answer to anyone would have arrived by now.
    await server.gh.sender.drained();
    for (const { req } of outcomes) expect(smtp.received.filter((m) => m.to.includes(req.email))).toHaveLength(1);
  });

  it('refuses a POST without the CSRF field, an unknown link and an expired link, and changes nothing', async () => {
    const req = await fileDirect('other', 'csrf');
    const { approve, deny } = approvalLinks(await mailTo('boss@example.com', req.name!));
    const tokensBefore = await count('acl_token');

    const opened = await openLink(approve);
    expect(opened.status).toBe(200);
    const noField = await opened.browser.request(approve, { form: { note: 'no csrf here' } });
    expect(noField.status).toBe(403);
    expect(await noField.text()).toContain('This form has expired or was not sent from this site');
    const noCookie = await fetch(approve, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${opened.csrf}` });
    expect(noCookie.status).toBe(403);
    const wrongField = await opened.browser.request(deny, { form: { _csrf: `${opened.csrf}x` } });
    expect(wrongField.status).toBe(403);
    expect((await request(req.id)).status).toBe('pending');
    expect((await linksOf(req.id)).every((l) => l.used_at === null)).toBe(true);
    expect(await count('acl_token')).toBe(tokensBefore);
    expect(await count('mail_outbox', { to: req.email })).toBe(0);

    const unknown = `${server.url}/approval/${'x'.repeat(43)}`;
    const unknownGet = await fetch(unknown);
    expect(unknownGet.status).toBe(410);
    const unknownHtml = await unknownGet.text();
    expect(unknownHtml).toContain('This link is not valid');
    expect(unknownHtml).not.toMatch(/at .*\.ts:\d+/);
    const unknownPost = await opened.browser.request(unknown, { form: { _csrf: opened.csrf } });
    expect(unknownPost.status).toBe(410);
    expect(await unknownPost.text()).toContain('This link is not valid');

    // The links' week is over.
    await server.gh
      .db('approval_link')
      .where({ join_request_id: req.id })
      .update({ expires_at: Date.now() - 60_000 });
    const expiredGet = await fetch(approve);
    expect(expiredGet.status).toBe(410);
    expect(await expiredGet.text()).toContain('expired');
    const expiredPost = await confirm(opened, approve);
    expect(expiredPost.status).toBe(410);
    expect(expiredPost.html).toContain('expired');
    const expiredDeny = await fetch(deny);
    expect(expiredDeny.status).toBe(410);
    expect((await request(req.id)).status).toBe('pending');
    expect((await linksOf(req.id)).every((l) => l.used_at === null)).toBe(true);
    expect(await count('acl_token')).toBe(tokensBefore);
    expect(await count('mail_outbox', { to: req.email })).toBe(0);
  });

  it('stores a join request while SMTP is down and mails the approver once SMTP is back', async () => {
    await smtp.stop();
    try {
      const who = await newcomer('offline');
      const sent = await askToJoin(who, 'other');
      expect(sent.status).toBe(202);
      expect(sent.html).toContain('Request sent');
      expect(sent.ms).toBeLessThan(5000);
      const [row] = await server.gh.db('join_request').where({ email: who.email });
      expect((row as JoinRequestRow).status).toBe('pending');
      const [queued] = await server.gh.db('mail_outbox').where({ to: 'boss@example.com' }).andWhere('subject', 'like', `%${who.name}%`);
      expect(queued).toBeDefined();
      expect(queued.status).toBe('pending');
      // The sender tried, failed, and kept it for later (a failed mail waits for its retry: not due, so drained).
      await server.gh.sender.drained();
      const attempted = await server.gh.db('mail_outbox').where({ id: queued.id }).first();
      expect(attempted.attempts).toBeGreaterThanOrEqual(1);
      expect(attempted.last_error).toBeTruthy();
      expect(attempted.status).toBe('pending');
      expect(smtp.received.some((m) => m.subject.includes(who.name))).toBe(false);

      await smtp.start();
      const mail = await mailTo('boss@example.com', who.name);
      expect(approvalLinks(mail).approve.startsWith(`${server.url}/approval/`)).toBe(true);
      // The pass that delivered it marks it sent before it ends.
      await server.gh.sender.drained();
      const after = await server.gh.db('mail_outbox').where({ id: queued.id }).first();
      expect(after.status).toBe('sent');
      expect(smtp.received.filter((m) => m.subject.includes(who.name))).toHaveLength(1);
    } finally {
      await smtp.start().catch(() => undefined);
    }
  });

  it("mails each client's requests to its own approvers, and an approver may decide only for its client", async () => {
    const forWeb = await fileDirect('web', 'webasker');
    const forOther = await fileDirect('other', 'otherasker');
    const webMail = await mailTo('owner@example.com', forWeb.name!);
    expect(webMail.subject).toBe(`Join request for Web App from ${forWeb.name}`);
    await mailTo('boss@example.com', forOther.name!);
    await server.gh.sender.drained();
    expect((await server.gh.db('mail_outbox').where('subject', 'like', `%${forWeb.name}`)).map((m: { to: string }) => m.to)).toEqual(['owner@example.com']);
    expect((await server.gh.db('mail_outbox').where('subject', 'like', `%${forOther.name}`)).map((m: { to: string }) => m.to)).toEqual(['boss@example.com']);
    expect(smtp.received.filter((m) => m.subject.endsWith(forWeb.name!)).flatMap((m) => m.to)).toEqual(['owner@example.com']);
    expect(smtp.received.filter((m) => m.subject.endsWith(forOther.name!)).flatMap((m) => m.to)).toEqual(['boss@example.com']);
    expect((await linksOf(forWeb.id)).map((l) => l.approver)).toEqual(['owner@example.com', 'owner@example.com']);
    expect((await linksOf(forOther.id)).map((l) => l.approver)).toEqual(['boss@example.com', 'boss@example.com']);

    const tokensBefore = await count('acl_token');
    const refused = await server.gh.joinRequests.decide(forOther.id, 'approve', 'owner@example.com', 'owner@example.com').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GatehouseError);
    expect((refused as GatehouseError).code).toBe('forbidden');
    expect((refused as GatehouseError).message).toContain('Other App');
    const stillPending = await request(forOther.id);
    expect(stillPending.status).toBe('pending');
    expect(stillPending.decided_by).toBeNull();
    expect(await count('acl_token')).toBe(tokensBefore);
    expect(await count('mail_outbox', { to: forOther.email })).toBe(0);
    const denyRefused = await server.gh.joinRequests.decide(forOther.id, 'deny', 'owner@example.com', 'owner@example.com').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((denyRefused as GatehouseError).code).toBe('forbidden');
    expect((await request(forOther.id)).status).toBe('pending');

    const decided = await server.gh.joinRequests.decide(forWeb.id, 'approve', 'owner@example.com', 'owner@example.com');
    expect(decided.status).toBe('approved');
    expect((await request(forWeb.id)).status).toBe('approved');
    expect((await request(forWeb.id)).decided_by).toBe('owner@example.com');
    expect(await count('acl_token')).toBe(tokensBefore + 1);
    await mailTo(forWeb.email, 'You can now use Web App');

    // The link mailed to owner@ (minted for that approver) works for web's request.
    const second = await fileDirect('web', 'weblinker');
    const { approve } = approvalLinks(await mailTo('owner@example.com', second.name!));
    const opened = await openLink(approve);
    expect(opened.html).toContain('Deciding as owner@example.com');
    const done = await confirm(opened, approve);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Request approved');
    expect((await request(second.id)).status).toBe('approved');
    expect((await request(second.id)).decided_by).toBe('owner@example.com');
    await mailTo(second.email, 'You can now use Web App');
  });

  it('writes names and messages as typed in the text part of the mails, and escaped in the HTML part and on the page', async () => {
    n += 1;
    const email = `quoted${n}@example.com`;
    const name = `Pat O'Brien & <Sons> ${n}`;
    const req = await server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `direct-${kind}-quoted-${n}`, emailVerified: true },
      clientId: 'other',
      email,
      name,
      message: 'a < b & "c"',
    });
    const mail = await smtp.waitFor((m) => m.to.includes('boss@example.com') && m.body.includes(email));
    const htmlAt = mail.body.search(/Content-Type: text\/html/i);
    expect(htmlAt).toBeGreaterThan(0);
    const text = mail.body.slice(0, htmlAt);
    const html = mail.body.slice(htmlAt);
    expect(text).toContain(`${name} <${email}> asks to join Other App`);
    expect(text).toContain('a < b & "c"');
    expect(text).not.toContain('&amp;');
    expect(text).not.toContain('&#39;');
    expect(html).toContain('O&#39;Brien &amp; &lt;Sons&gt;');
    expect(html).not.toContain('<Sons>');
    const { deny } = approvalLinks(mail);
    const opened = await openLink(deny);
    expect(opened.html).toContain('O&#39;Brien &amp; &lt;Sons&gt;');
    expect(opened.html).not.toContain('<Sons>');
    expect((await confirm(opened, deny)).status).toBe(200);
    const refusal = await smtp.waitFor((m) => m.to.includes(email));
    expect(refusal.body.slice(0, refusal.body.search(/Content-Type: text\/html/i))).toContain(`Hello ${name},`);
    expect((await request(req.id)).status).toBe('denied');
  });

  it('decides requests for a registered (non-static) client from the mailed link and with decide()', { timeout: 30_000 }, async () => {
    await upsertModel(server.gh.db, {
      kind: 'Client',
      id: 'registered',
      payload: JSON.stringify({ client_id: 'registered', client_name: 'Registered App', redirect_uris: [redirectUri] }),
      grant_id: null,
      user_code: null,
      uid: null,
      account_id: null,
      expires_at: null,
      consumed_at: null,
    });
    const viaLink = await fileDirect('registered', 'regasker');
    const { approve } = approvalLinks(await mailTo('boss@example.com', viaLink.name!));
    const opened = await openLink(approve);
    expect(opened.html).toContain('Registered App');
    const done = await confirm(opened, approve);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Request approved');
    const approved = await request(viaLink.id);
    expect(approved.status).toBe('approved');
    expect((await server.gh.aclTokens.get(approved.acl_token_id!)).clients.map((c) => c.client_id)).toEqual(['registered']);
    await mailTo(viaLink.email, 'You can now use Registered App');

    const viaCli = await fileDirect('registered', 'regcli');
    expect((await server.gh.joinRequests.decide(viaCli.id, 'deny', 'admin-cli')).status).toBe('denied');
    await mailTo(viaCli.email, 'Your request for Registered App');
    const byBoss = await fileDirect('registered', 'regboss');
    expect((await server.gh.joinRequests.decide(byBoss.id, 'approve', 'boss@example.com', 'boss@example.com')).status).toBe('approved');
    const refused = await server.gh.joinRequests
      .decide((await fileDirect('registered', 'regowner')).id, 'approve', 'owner@example.com', 'owner@example.com')
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((refused as GatehouseError).code).toBe('forbidden');
  });
});
