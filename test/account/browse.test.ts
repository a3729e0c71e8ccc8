/**
 * "Other apps" and "My requests" over HTTP, on SQLite and PostgreSQL (issue
 * 13, SPEC 9 `clients[].discoverable`): a discoverable static client is listed
 * to a person without access, a client not discoverable or one they can use is
 * not; "Ask for access" files one pending access request (seen through the
 * admin API), a second ask while it waits is refused in plain words, CSRF
 * missing is a 403; an approval for 30 days shows in My requests with its end
 * (and the end passing, on the injected clock, lists the app again), a denial
 * is said with the approver's note; registered clients are made discoverable through the admin API,
 * the CLI and the console (static ones refused, every change audited
 * `client.discoverable_set`); asks are rate-limited per person.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dateText } from '../../src/account/site.ts';
import { listJoinRequestsOfUser } from '../../src/db/repos/join-requests.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { runInProcess } from '../cli/in-process.ts';
import { cliTimeouts, databaseYaml, writeWorkspace, type CliWorkspace } from '../cli/gatehouse.ts';
import { postAccountForm, signInToAccount } from '../helpers/account-login.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { parsed } from '../helpers/cli-answers.ts';
import { signInToConsole } from '../helpers/console-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import type { Browserless } from '../helpers/http-login.ts';
import { register, registered, registrationConfig, webMetadata } from '../helpers/registration.ts';
import { testClients } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const password = 'correct horse battery staple';
const day = 86_400_000;
const redirect = 'http://127.0.0.1:9/cb';
const wiki = {
  client_id: 'wiki',
  client_secret: 'wiki-secret-0123456789',
  client_name: 'Team Wiki',
  description: 'Where the team writes things down',
  client_uri: 'https://wiki.example.com/',
  redirect_uris: [redirect],
  approvers: ['lead@example.com'],
  discoverable: true,
};
const hidden = { client_id: 'hidden', client_secret: 'hidden-secret-0123456789', client_name: 'Secret Ledger', redirect_uris: [redirect] };
const web = { ...testClients.web, redirect_uris: [redirect], discoverable: true };

describe.each(databaseKinds)('Other apps and My requests on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  let ws: CliWorkspace;
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  let issuer: string;
  let ann: Browserless;
  let annId: string;
  let bobId: string;
  const raw = {
    connectors: [{ id: 'local', type: 'local', name: 'Email' }],
    clients: [wiki, hidden, web],
    admins: ['root@example.com'],
    firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
    security: { rateLimits: { gate: { max: 12, window: '15m' } } },
    ...registrationConfig({ initialAccessToken: 'required' }),
  };

  const page = async (browser: Browserless, path: string) => {
    const response = await browser.request(`${issuer}${path}`);
    return { status: response.status, html: await response.text() };
  };
  /** The section of the Other apps page for one app (its card), or '' when the app is not listed. */
  const card = (html: string, name: string) => {
    const at = html.indexOf(`>${name}</h2>`);
    if (at < 0) return '';
    const end = html.indexOf('</section>', at);
    return html.slice(at, end);
  };
  const ask = (browser: Browserless, clientId: string, message = '') =>
    postAccountForm(browser, `${issuer}/account/browse`, `${issuer}/account/browse/${encodeURIComponent(clientId)}/ask`, { message });
  const pendingFor = async (clientId: string) =>
    (
      (await api.call('GET', '/join-requests?status=pending')).body.items as {
        id: string;
        client: string;
        email: string;
        kind: string;
        message: string | null;
      }[]
    ).filter((r) => r.client === clientId);
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args, '--json']);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, raw, { clock });
    issuer = api.server.url;
    const gh = api.server.gh;
    const { row: invitation } = await gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    annId = (
      await gh.users.createLocal({ email: 'ann@example.com', name: 'Ann Archer', password }, 'test', (trx, user) =>
        gh.gate.attachToken(trx, user.id, invitation.id, 'test'),
      )
    ).id;
    bobId = (await gh.users.createLocal({ email: 'bob@example.com', password }, 'test')).id;
    for (const email of ['cy@example.com', 'root@example.com']) await gh.users.createLocal({ email, password }, 'test');
    ws = writeWorkspace(
      db,
      [
        `issuer: ${issuer}`,
        `database: ${databaseYaml(db)}`,
        `clients: ${JSON.stringify([wiki, hidden, web])}`,
        `firstauth: ${JSON.stringify(raw.firstauth)}`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    ann = await signInToAccount(issuer, 'ann@example.com', password);
  });
  afterAll(async () => {
    ws?.cleanup();
    await api?.stop();
    await db?.drop();
  });

  it('lists a discoverable client the person cannot use, not one that is not discoverable nor one they can use', async () => {
    const { status, html } = await page(ann, '/account/browse');
    expect(status).toBe(200);
    expect(html).toContain('aria-current="page">Other apps');
    const wikiCard = card(html, 'Team Wiki');
    expect(wikiCard).toContain('Where the team writes things down');
    expect(wikiCard).toContain('href="https://wiki.example.com/"');
    expect(wikiCard).toContain('action="/account/browse/wiki/ask"');
    expect(wikiCard).toContain('Ask for access');
    expect(html).not.toContain('Secret Ledger');
    expect(html).not.toContain('Web App');
  });

  it('files one pending access request with the message; asking again while it waits is refused in plain words', async () => {
    const asked = await ask(ann, 'wiki', 'I write the release notes');
    expect(asked.status).toBe(303);
    expect(asked.headers.get('location')).toBe('/account/browse');
    const pending = await pendingFor('wiki');
    const askedAt = dateText(Date.parse((pending[0] as unknown as { created: string }).created));
    expect(pending).toEqual([expect.objectContaining({ kind: 'access', email: 'ann@example.com', message: 'I write the release notes' })]);
    const mails = await api.server.gh.db('mail_outbox').where({ to: 'lead@example.com' }).select('subject');
    expect(mails.map((m: { subject: string }) => m.subject)).toEqual(['Access request for Team Wiki from Ann Archer']);

    const after = await page(ann, '/account/browse');
    expect(after.html).toContain('Your request for Team Wiki is sent');
    const wikiCard = card(after.html, 'Team Wiki');
    expect(wikiCard).toContain(`Asked on <time datetime="${(pending[0] as unknown as { created: string }).created}">${askedAt}</time>, waiting for a decision`);
    expect(wikiCard).not.toContain('Ask for access</button>');

    const again = await ask(ann, 'wiki', 'please');
    expect(again.status).toBe(409);
    const text = await again.text();
    expect(text).toContain(`You already asked for access to Team Wiki on ${askedAt}. Your request is waiting for a decision`);
    expect(await pendingFor('wiki')).toHaveLength(1);

    const requests = await page(ann, '/account/requests');
    expect(requests.status).toBe(200);
    expect(requests.html).toContain('aria-current="page">My requests');
    expect(requests.html).toMatch(/Waiting for a decision<\/h2>\s*<ul class="items">[\s\S]*Team Wiki[\s\S]*Asked for access on/);
  });

  it('refuses an ask without the CSRF value (403), for a client not listed (404) and for one the person can use (409)', async () => {
    const forged = await ann.request(`${issuer}/account/browse/wiki/ask`, { form: { message: 'forged' } });
    expect(forged.status).toBe(403);
    const notListed = await ask(ann, 'hidden');
    expect(notListed.status).toBe(404);
    expect(await notListed.text()).toContain('There is no app to ask for at this address.');
    expect(await ask(ann, 'nope')).toHaveProperty('status', 404);
    const usable = await ask(ann, 'web');
    expect(usable.status).toBe(409);
    expect(await usable.text()).toContain('You can already use Web App.');
    expect(await pendingFor('hidden')).toHaveLength(0);
    expect(await pendingFor('web')).toHaveLength(0);
  });

  it('shows an approval for 30 days with its end in My requests, and lists the app again once that access has ended', async () => {
    const [request] = await pendingFor('wiki');
    const approved = await api.call('POST', `/join-requests/${request!.id}/approve`, { body: { for: '30d' } });
    expect(approved.status).toBe(200);
    const ends = Date.parse(approved.body.accessEnds as string);
    expect(await api.server.gh.gate.hasAccess(annId, 'wiki')).toBe(true);

    const browse = await page(ann, '/account/browse');
    expect(browse.html).not.toContain('>Team Wiki</h2>');
    const requests = await page(ann, '/account/requests');
    expect(requests.html).toContain('No request is waiting.');
    expect(requests.html).toContain(
      `Approved by an administrator on <time datetime="${approved.body.decided}">${dateText(Date.parse(approved.body.decided as string))}</time>`,
    );
    expect(requests.html).toContain(`Access until <time datetime="${new Date(ends).toISOString()}">${dateText(ends)}</time>`);
    expect(requests.html).toContain('Your message: I write the release notes');
    // My apps lists it now, with the same end.
    const apps = await page(ann, '/account');
    expect(apps.html).toContain('>Team Wiki</span>');
    expect(apps.html).toContain(`Access ends <time datetime="${new Date(ends).toISOString()}">${dateText(ends)}</time>`);

    skew += 31 * day;
    try {
      // A month on, ann signs in again (her account session has ended by then).
      ann = await signInToAccount(issuer, 'ann@example.com', password);
      const ended = await page(ann, '/account/requests');
      expect(ended.html).toContain(`Access ended on <time datetime="${new Date(ends).toISOString()}">${dateText(ends)}</time>`);
      const again = card((await page(ann, '/account/browse')).html, 'Team Wiki');
      expect(again).toContain(`has ended (on <time datetime="${new Date(ends).toISOString()}">${dateText(ends)}</time>). You may ask again.`);
      expect(again).toContain('Ask for access</button>');
    } finally {
      skew -= 31 * day;
      ann = await signInToAccount(issuer, 'ann@example.com', password);
    }
  });

  it('says when a request was denied, by whom, and lets the person ask again', async () => {
    const bob = await signInToAccount(issuer, 'bob@example.com', password);
    expect((await ask(bob, 'wiki')).status).toBe(303);
    const [request] = (await pendingFor('wiki')).filter((r) => r.email === 'bob@example.com');
    await api.server.gh.joinRequests.decide(request!.id, 'deny', 'lead@example.com', 'lead@example.com', { note: 'Only the writers team for now' });
    const wikiCard = card((await page(bob, '/account/browse')).html, 'Team Wiki');
    expect(wikiCard).toContain('the request was denied on');
    expect(wikiCard).toContain('Ask for access</button>');
    const requests = await page(bob, '/account/requests');
    expect(requests.html).toContain('Denied by lead@example.com on');
    expect(requests.html).toContain('Note: Only the writers team for now');
    expect(requests.html).toContain('Asked for access on');
    expect((await listJoinRequestsOfUser(api.server.gh.db, bobId)).map((r) => r.status)).toEqual(['denied']);
  });

  it('makes a registered client discoverable through the admin API and the CLI (static clients refused, audited)', async () => {
    const { token } = await api.server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
    const made = registered(await register(issuer, webMetadata(redirect, { client_name: 'Shared Drive' }), token));
    expect((await api.call('GET', `/clients/${made.client_id}`)).body.discoverable).toBe(false);
    expect((await page(ann, '/account/browse')).html).not.toContain('Shared Drive');

    const set = await api.call('PUT', `/clients/${made.client_id}/discoverable`, { body: { discoverable: true } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: made.client_id, source: 'registered', discoverable: true });
    expect(card((await page(ann, '/account/browse')).html, 'Shared Drive')).toContain(`action="/account/browse/${made.client_id}/ask"`);

    const off = await cli(['client', 'set-discoverable', made.client_id, 'false']);
    expect(off.code).toBe(0);
    expect(parsed<{ discoverable: boolean }>(off).discoverable).toBe(false);
    expect((await page(ann, '/account/browse')).html).not.toContain('Shared Drive');
    const bad = await runInProcess(['--config', ws.configPath, 'client', 'set-discoverable', made.client_id, 'maybe']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('say true or false');

    // A held client signs nobody in: not listed while disabled, even when discoverable.
    expect((await cli(['client', 'set-discoverable', made.client_id, 'true'])).code).toBe(0);
    expect((await api.call('POST', `/clients/${made.client_id}/disable`)).status).toBe(200);
    expect((await page(ann, '/account/browse')).html).not.toContain('Shared Drive');
    expect((await ask(ann, made.client_id)).status).toBe(404);
    expect((await api.call('POST', `/clients/${made.client_id}/enable`)).status).toBe(200);
    expect((await page(ann, '/account/browse')).html).toContain('Shared Drive');

    const staticRefused = await api.call('PUT', '/clients/hidden/discoverable', { body: { discoverable: true } });
    expect(staticRefused.status).toBe(400);
    expect(staticRefused.body.error).toBe('input.invalid');
    expect(staticRefused.body.error_description ?? staticRefused.body.message).toMatch(/hidden is a static client.*config\.yaml \(clients\[\]\.discoverable\)/);
    expect((await api.call('PUT', `/clients/${made.client_id}/discoverable`, { body: { discoverable: 'yes' } })).status).toBe(400);
    expect((await api.call('PUT', '/clients/nope/discoverable', { body: { discoverable: true } })).status).toBe(404);
    expect((await api.call('GET', '/clients/wiki')).body.discoverable).toBe(true);

    const audit = await api.server.gh.db('audit_log').where({ action: 'client.discoverable_set', subject: made.client_id }).orderBy('id');
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual(['key:tests', expect.stringMatching(/^cli:/), expect.stringMatching(/^cli:/)]);
    expect(audit.map((a: { details: string }) => JSON.parse(a.details))).toEqual([{ discoverable: true }, { discoverable: false }, { discoverable: true }]);
  });

  it("toggles a registered client's listing on the console's client page (static: read-only there)", async () => {
    const { token } = await api.server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
    const made = registered(await register(issuer, webMetadata(redirect, { client_name: 'Console Toggle' }), token));
    const admin = await signInToConsole(issuer, 'root@example.com', password);
    const clientUrl = `${issuer}/admin/clients/${made.client_id}`;
    const before = await (await admin.request(clientUrl)).text();
    expect(before).toContain('List it in Other apps');
    const forged = await admin.request(`${clientUrl}/discoverable`, { form: { discoverable: 'true' } });
    expect(forged.status).toBe(403);
    const posted = await postAccountForm(admin, clientUrl, `${clientUrl}/discoverable`, { discoverable: 'true' });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`/admin/clients/${made.client_id}`);
    const after = await (await admin.request(clientUrl)).text();
    expect(after).toContain('The client is listed in Other apps');
    expect(after).toContain('Stop listing it');
    expect((await api.server.gh.clients.find(made.client_id))?.discoverable).toBe(true);
    const audit = await api.server.gh.db('audit_log').where({ action: 'client.discoverable_set', subject: made.client_id });
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual(['admin:root@example.com']);
    const staticPage = await (await admin.request(`${issuer}/admin/clients/wiki`)).text();
    expect(staticPage).toContain('clients[].discoverable');
    expect(staticPage).not.toContain('/admin/clients/wiki/discoverable');
  });

  it('counts asks per person: past security.rateLimits.gate.max a plain 429', async () => {
    const cy = await signInToAccount(issuer, 'cy@example.com', password);
    for (let i = 0; i < 12; i += 1) expect((await ask(cy, 'hidden')).status).toBe(404);
    const limited = await ask(cy, 'wiki');
    expect(limited.status).toBe(429);
    expect(await limited.text()).toContain('You have asked too often. Wait a few minutes and try again.');
    expect((await pendingFor('wiki')).filter((r) => r.email === 'cy@example.com')).toHaveLength(0);
    // Another person is not held back.
    expect((await ask(ann, 'hidden')).status).toBe(404);
  });
});
