/**
 * The admin API's join-request routes on SQLite and PostgreSQL, with the API
 * key the config holds: list (by status, paginated), show, approve (also
 * time-boxed with `for`), deny; bad input names the field, an unknown id is a
 * 404, a decided request a 409, and every decision is audited as `key:tests`.
 * A time-boxed approval really ends: once the injected clock passes its end,
 * the refresh is refused and the next sign-in shows "No access" with "Ask for
 * access".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { testClients } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const day = 86_400_000;

describe.each(databaseKinds)('admin API join requests on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  let n = 0;
  /** Moves Gatehouse's clock (client token expiry) without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(
      db,
      {
        clients: [web],
        admins: ['root@example.com'],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        security: { maxLoginFailures: 100, loginWindow: '15m' },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  /** Someone without an account asks to join `web`. */
  function joinRequest(label: string) {
    n += 1;
    return api.server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `${kind}-${label}-${n}`, emailVerified: true },
      clientId: 'web',
      email: `${label}${n}@example.com`,
      name: `${label} ${n}`,
      message: `please, ${label}`,
    });
  }

  it('lists pending requests, shows one, approves it for 7 days and denies another; each decision audited as the key', async () => {
    const first = await joinRequest('ann');
    const second = await joinRequest('bob');
    const pending = await api.call('GET', '/join-requests?status=pending');
    expect(pending.status).toBe(200);
    expect(pending.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: first.id, kind: 'join', status: 'pending', email: first.email, client: 'web', message: 'please, ann', decidedBy: null }),
        expect.objectContaining({ id: second.id, status: 'pending' }),
      ]),
    );
    const shown = await api.call('GET', `/join-requests/${first.id}`);
    expect(shown.body).toMatchObject({ id: first.id, status: 'pending', aclTokenId: null, accessEnds: null });

    const before = clock.now();
    const approved = await api.call('POST', `/join-requests/${first.id}/approve`, { body: { for: '7d' } });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: first.id, status: 'approved', decidedBy: 'key:tests', aclTokenId: expect.any(String) });
    const ends = Date.parse(approved.body.accessEnds);
    expect(ends).toBeGreaterThanOrEqual(before + 7 * day);
    expect(ends).toBeLessThanOrEqual(clock.now() + 7 * day);
    const token = await api.server.gh.aclTokens.get(approved.body.aclTokenId);
    expect(token.clients.map((c) => [c.client_id, c.expires_at])).toEqual([['web', ends]]);

    const denied = await api.call('POST', `/join-requests/${second.id}/deny`, { body: { note: 'Not this quarter' } });
    expect(denied.body).toMatchObject({
      id: second.id,
      status: 'denied',
      decidedBy: 'key:tests',
      aclTokenId: null,
      accessEnds: null,
      note: 'Not this quarter',
    });
    const refusal = await api.server.gh.db('mail_outbox').where({ to: second.email, subject: 'Your request for Web App' }).first();
    expect(refusal.text).toContain('Not this quarter');
    expect((await api.call('GET', '/join-requests?status=approved')).body.items.map((r: { id: string }) => r.id)).toContain(first.id);

    const audit = await api.server.gh.db('audit_log').where({ actor: 'key:tests' }).whereIn('subject', [first.id, second.id]).select('action', 'subject');
    expect(audit).toEqual(
      expect.arrayContaining([
        { action: 'join_request.approved', subject: first.id },
        { action: 'join_request.denied', subject: second.id },
      ]),
    );
    // The requester is told; a mailed approval gives access without end, this one says when it ends in the token.
    expect(await api.server.gh.db('mail_outbox').where({ to: first.email, subject: 'You can now use Web App' })).toHaveLength(1);
  });

  it('approves until an ISO date, and without `for` gives access without end', async () => {
    const dated = await joinRequest('carl');
    const until = new Date(clock.now() + 30 * day).toISOString().slice(0, 10);
    const answer = await api.call('POST', `/join-requests/${dated.id}/approve`, { body: { for: until } });
    expect(answer.status).toBe(200);
    expect(answer.body.accessEnds).toBe(new Date(until).toISOString());
    const open = await joinRequest('dora');
    expect((await api.call('POST', `/join-requests/${open.id}/approve`)).body).toMatchObject({ status: 'approved', accessEnds: null });
  });

  it('pages through the requests with limit and cursor', async () => {
    for (const label of ['p', 'p', 'p']) await joinRequest(label);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await api.call('GET', `/join-requests?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(answer.status).toBe(200);
      expect(answer.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...answer.body.items.map((r: { id: string }) => r.id));
      cursor = answer.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe((await api.server.gh.joinRequests.list()).length);
  });

  it('names the field at fault, answers 404 for an unknown id and 409 for a decided request', async () => {
    expect((await api.call('GET', '/join-requests?status=bogus')).body).toMatchObject({ error: 'input.invalid', field: 'status' });
    const pending = await joinRequest('eve');
    for (const bad of ['soon', '2020-01-01', '0d', '2027-02-30']) {
      const answer = await api.call('POST', `/join-requests/${pending.id}/approve`, { body: { for: bad } });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'input.invalid', field: 'for' });
    }
    expect((await api.call('POST', `/join-requests/${pending.id}/approve`, { body: { for: 30 } })).body).toMatchObject({ field: 'for' });
    expect((await api.server.gh.joinRequests.get(pending.id)).status).toBe('pending');

    expect((await api.call('GET', '/join-requests/no-such-request')).status).toBe(404);
    expect((await api.call('POST', '/join-requests/no-such-request/approve')).status).toBe(404);
    expect((await api.call('POST', '/join-requests/no-such-request/deny')).status).toBe(404);

    expect((await api.call('POST', `/join-requests/${pending.id}/deny`)).status).toBe(200);
    for (const verb of ['approve', 'deny']) {
      const again = await api.call('POST', `/join-requests/${pending.id}/${verb}`);
      expect(again.status).toBe(409);
      expect(again.body.error).toBe('join_request.already_decided');
    }
    expect((await api.call('GET', '/join-requests', { bearer: null })).status).toBe(401);
  });

  it('ends time-boxed access once the clock passes the end: refresh refused, "No access" with "Ask for access"', async () => {
    const password = 'correct horse battery staple';
    const made = await api.call('POST', '/users', { body: { email: 'timed@example.com', name: 'Timed Person', password } });
    expect(made.status).toBe(201);
    const subject = made.body.identities[0].subject as string;
    const request = await api.server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject, emailVerified: true },
      userId: made.body.id,
      clientId: 'web',
      email: 'timed@example.com',
      name: 'Timed Person',
      message: 'for the project',
    });
    expect(request.kind).toBe('access');
    const approved = await api.call('POST', `/join-requests/${request.id}/approve`, { body: { for: '1d' } });
    expect(approved.body.status).toBe('approved');
    expect((await api.call('GET', `/users/${made.body.id}`)).body.access).toEqual([
      expect.objectContaining({ client: 'web', expires: approved.body.accessEnds }),
    ]);

    const browser = new Browserless();
    const { code, verifier } = await obtainCode(api.server.url, { clientId: 'web', redirectUri, email: 'timed@example.com', password, browser });
    const tokens = await tokenRequest(api.server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(tokens.status).toBe(200);
    const refreshed = await tokenRequest(api.server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    expect(refreshed.status).toBe(200);

    skew += day + 1000;
    const refused = await tokenRequest(api.server.url, web, { grant_type: 'refresh_token', refresh_token: String(refreshed.body.refresh_token) });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    const auth = `${api.server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const step = await browser.follow(auth, api.server.url);
    const html = await step.response.text();
    expect(step.response.status).toBe(403);
    expect(html).toContain('No access to Web App');
    expect(html).toContain('Ask for access');
    expect((await api.call('GET', `/users/${made.body.id}`)).body.access).toEqual([]);
  });
});
