/**
 * Quorum (`clients[].approvals: 2`) on SQLite and PostgreSQL, through the
 * domain and over HTTP with a real SMTP server: the first approval leaves the
 * request pending with 1 of 2 counted (audited, the other approvers mailed
 * "1 of 2 approvals"), the same approver twice counts once, a second different
 * approver approves it, one deny decides, an admin decides outright; the
 * mailed links count the same way ("Your approval is counted: 1 of 2"); two
 * and three approvers racing on one request, many rounds, give exactly one
 * approval and one personal token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JoinRequestRow } from '../../src/db/repos/join-requests.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const approvers = ['ann@example.com', 'bob@example.com', 'cat@example.com'];
const team = { ...testClients.web, client_id: 'team', client_name: 'Team App', redirect_uris: [redirectUri], approvers, approvals: 2 };

const approvalLinks = (mail: ReceivedMail): { approve: string; deny: string } => {
  const approve = /Approve: (https?:\/\/\S+)/.exec(mail.body)?.[1];
  const deny = /Deny: +(https?:\/\/\S+)/.exec(mail.body)?.[1];
  if (!approve || !deny) throw new Error(`no approval links in mail "${mail.subject}": ${mail.body.slice(0, 800)}`);
  return { approve, deny };
};

describe.each(databaseKinds)('quorum on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let smtp: TestSmtp;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    smtp = await startSmtp();
    server = await startTestServer(db, {
      clients: [team],
      admins: ['root@example.com'],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      mailer: { host: '127.0.0.1', port: smtp.port },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await db?.drop();
  });

  const row = async (id: string): Promise<JoinRequestRow> => (await server.gh.db('join_request').where({ id }).first()) as JoinRequestRow;
  const count = async (table: string, where: Record<string, unknown> = {}): Promise<number> =>
    Number((await server.gh.db(table).where(where).count<{ n: number | string }[]>({ n: '*' }).first())?.n ?? 0);
  const audits = (id: string, action: string) => server.gh.db('audit_log').where({ subject: id, action }).orderBy('id');
  const outbox = (to: string, subjectPart: string) => server.gh.db('mail_outbox').where({ to }).andWhere('subject', 'like', `%${subjectPart}%`).orderBy('id');
  const tokensOf = (id: string) => server.gh.db('acl_token').where('description', 'like', `%${id}%`);

  async function file(label: string): Promise<JoinRequestRow> {
    n += 1;
    return server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `q-${kind}-${label}-${n}`, emailVerified: true },
      clientId: 'team',
      email: `${label}${n}@example.com`,
      name: `${label} person ${String(n).padStart(4, '0')}`,
      message: 'Please let me in',
    });
  }
  const approveAs = (id: string, approver: string) => server.gh.joinRequests.decide(id, 'approve', `user:${approver}`, approver);

  it('counts approvals: 1 of 2 stays pending (audited, mailed), the same approver twice counts once, a second approver approves', async () => {
    const request = await file('counted');
    const firstMail = await smtp.waitFor((m) => m.to.includes('bob@example.com') && m.subject.includes(request.name!));
    expect(firstMail.body).toContain('0 of 2 approvals');
    expect(firstMail.body).toContain('one deny decides');

    const first = await approveAs(request.id, 'ann@example.com');
    expect(first.status).toBe('pending');
    expect(first.approvals).toEqual({ n: 1, of: 2, by: ['ann@example.com'] });
    expect(first.countedBefore).toBe(false);
    expect((await row(request.id)).status).toBe('pending');
    expect(await tokensOf(request.id)).toHaveLength(0);
    const counted = await audits(request.id, 'join_request.approval_counted');
    expect(counted).toHaveLength(1);
    expect(counted[0].actor).toBe('user:ann@example.com');
    expect(JSON.parse(counted[0].details)).toMatchObject({ approver: 'ann@example.com', n: 1, of: 2 });

    // The approvers still to decide are told how far it got ("1 of 2 approvals"), with fresh links; Ann is not mailed again.
    for (const to of ['bob@example.com', 'cat@example.com']) {
      const mail = await smtp.waitFor((m) => m.to.includes(to) && m.subject.includes(`${request.name}: 1 of 2`));
      expect(mail.body).toContain('1 of 2 approvals so far (approved by ann@example.com)');
      approvalLinks(mail);
    }
    expect(await outbox('ann@example.com', '1 of 2 approvals')).toHaveLength(0);

    // Ann again: counted once, nothing else happens.
    const again = await approveAs(request.id, 'ANN@example.com');
    expect(again.status).toBe('pending');
    expect(again.approvals.n).toBe(1);
    expect(again.countedBefore).toBe(true);
    expect(await audits(request.id, 'join_request.approval_counted')).toHaveLength(1);
    expect(await count('join_request_approval', { join_request_id: request.id })).toBe(1);
    expect(await outbox('bob@example.com', '1 of 2 approvals').then((r) => r.filter((m) => m.subject.includes(request.name!)))).toHaveLength(1);

    const second = await approveAs(request.id, 'bob@example.com');
    expect(second.status).toBe('approved');
    expect(second.approvals).toEqual({ n: 2, of: 2, by: ['ann@example.com', 'bob@example.com'] });
    const decided = await row(request.id);
    expect(decided.status).toBe('approved');
    expect(decided.decided_by).toBe('bob@example.com');
    expect(await tokensOf(request.id)).toHaveLength(1);
    expect((await audits(request.id, 'join_request.approval_counted')).map((a) => JSON.parse(a.details).n)).toEqual([1, 2]);
    const approved = await audits(request.id, 'join_request.approved');
    expect(approved).toHaveLength(1);
    expect(JSON.parse(approved[0].details)).toMatchObject({ approvals: { n: 2, of: 2 } });
    await smtp.waitFor((m) => m.to.includes(request.email) && m.subject.includes('You can now use Team App'));

    const late = await approveAs(request.id, 'cat@example.com').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(GatehouseError);
    expect((late as GatehouseError).code).toBe('join_request.already_decided');
    expect((late as GatehouseError).message).toContain('approved by bob@example.com');
  });

  it('one deny decides, after an approval; an admin decides outright; a stranger is refused', async () => {
    const request = await file('denied');
    await approveAs(request.id, 'ann@example.com');
    const denied = await server.gh.joinRequests.decide(request.id, 'deny', 'user:cat', 'cat@example.com', { note: 'Not this quarter' });
    expect(denied.status).toBe('denied');
    const decided = await row(request.id);
    expect(decided.status).toBe('denied');
    expect(decided.decision_note).toBe('Not this quarter');
    // The person hears why: the refusal mail carries the note.
    const refusal = await smtp.waitFor((m) => m.to.includes(request.email) && m.subject.includes('Your request for'));
    expect(refusal.body).toContain('Not this quarter');
    expect(await tokensOf(request.id)).toHaveLength(0);
    await expect(approveAs(request.id, 'bob@example.com')).rejects.toMatchObject({ code: 'join_request.already_decided' });

    // An admin surface (no approver: CLI, API, console) and an approver who is an admin decide outright.
    const byConsole = await file('console');
    expect((await server.gh.joinRequests.decide(byConsole.id, 'approve', 'admin:root@example.com')).status).toBe('approved');
    const byRoot = await file('root');
    const rooted = await server.gh.joinRequests.decide(byRoot.id, 'approve', 'user:root', 'root@example.com');
    expect(rooted.status).toBe('approved');
    expect(rooted.approvals.n).toBe(0);
    expect(await count('join_request_approval', { join_request_id: byRoot.id })).toBe(0);

    const strange = await file('strange');
    await expect(approveAs(strange.id, 'eve@example.com')).rejects.toMatchObject({ code: 'forbidden' });
    expect(await count('join_request_approval', { join_request_id: strange.id })).toBe(0);
  });

  it('counts the mailed links the same way: "Your approval is counted: 1 of 2", then approved, then already decided', async () => {
    const request = await file('linked');
    const mailOf = async (to: string) => smtp.waitFor((m) => m.to.includes(to) && m.subject.includes(request.name!) && !m.subject.includes('approvals'));
    const open = async (link: string) => {
      const browser = new Browserless();
      const res = await browser.request(link);
      const html = await res.text();
      return { browser, status: res.status, html, post: async () => (await browser.request(link, { form: { _csrf: csrfOf(html) } })).text() };
    };
    const ann = await open(approvalLinks(await mailOf('ann@example.com')).approve);
    expect(ann.status).toBe(200);
    expect(ann.html).toContain('0 of 2 approvals');
    const annDone = await ann.post();
    expect(annDone).toContain('Your approval is counted: 1 of 2');
    expect((await row(request.id)).status).toBe('pending');

    const bob = await open(approvalLinks(await mailOf('bob@example.com')).approve);
    expect(bob.html).toContain('1 of 2 approvals (approved by ann@example.com)');
    expect(await bob.post()).toContain('Request approved');
    expect((await row(request.id)).status).toBe('approved');
    expect(await tokensOf(request.id)).toHaveLength(1);

    const cat = await open(approvalLinks(await mailOf('cat@example.com')).deny);
    expect(cat.status).toBe(409);
    expect(cat.html).toContain('already been decided: it was approved by bob@example.com');
  });

  it('two approvers racing, many rounds: exactly one approval and one personal token each time', async () => {
    for (let round = 0; round < 12; round += 1) {
      const request = await file(`race${round}`);
      const results = await Promise.allSettled([approveAs(request.id, 'ann@example.com'), approveAs(request.id, 'bob@example.com')]);
      const done = results.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as GatehouseError).code)).sort();
      expect(done).toEqual(['approved', 'pending']);
      expect((await row(request.id)).status).toBe('approved');
      expect(await tokensOf(request.id)).toHaveLength(1);
      expect(await audits(request.id, 'join_request.approved')).toHaveLength(1);
      expect(await count('join_request_approval', { join_request_id: request.id })).toBe(2);
    }
  });

  it('three approvers (and one approver twice) racing: one approval, one counted, one told it is decided', async () => {
    for (let round = 0; round < 8; round += 1) {
      const request = await file(`three${round}`);
      const results = await Promise.allSettled([
        approveAs(request.id, 'ann@example.com'),
        approveAs(request.id, 'bob@example.com'),
        approveAs(request.id, 'cat@example.com'),
      ]);
      const done = results.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as GatehouseError).code)).sort();
      expect(done).toEqual(['approved', 'join_request.already_decided', 'pending']);
      expect(await tokensOf(request.id)).toHaveLength(1);
      expect(await audits(request.id, 'join_request.approved')).toHaveLength(1);

      const twice = await file(`twice${round}`);
      const same = await Promise.all([approveAs(twice.id, 'ann@example.com'), approveAs(twice.id, 'ann@example.com')]);
      expect(same.map((r) => r.status)).toEqual(['pending', 'pending']);
      expect(same.map((r) => r.countedBefore).sort()).toEqual([false, true]);
      expect(await count('join_request_approval', { join_request_id: twice.id })).toBe(1);
      expect(await audits(twice.id, 'join_request.approval_counted')).toHaveLength(1);
    }
  });
});
