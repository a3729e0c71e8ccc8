/**
 * The admin API's invitations (ACL tokens) and client tokens on SQLite and
 * PostgreSQL, with the API key the config holds: the secret and the invite
 * link are in the creating answer only (show and list never hold them), bad
 * input names the field (an unknown client is a 404 naming it), unknown ids
 * are 404s, states move with the injected clock, a revoked invitation keeps
 * the person who redeemed it (signed in over HTTP) out of the next
 * authorization and refresh, and every change is audited as `key:tests`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { sha256 } from '../../src/lib/secrets.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { testClients } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const other = { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: [redirectUri] };
const day = 86_400_000;

describe.each(databaseKinds)('admin API invitations and client tokens on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  /** Moves Gatehouse's clock without waiting; only ever forward. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };
  const secretsIn = (text: string, token: string) => [
    text.includes(token),
    text.includes(token.slice(4)),
    text.includes(sha256(token)),
    /gha_|ghc_|token_?hash/i.test(text),
  ];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { clients: [web, other], firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } } }, { clock });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('creates an invitation whose token and link are in the creating answer only', async () => {
    const from = clock.now();
    const made = await api.call('POST', '/acl-tokens', {
      body: { maxUsers: 3, clients: ['web', 'other', 'web'], expires: '30d', clientExpires: '90d', description: 'team' },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ maxUsers: 3, uses: 0, state: 'active', kind: 'invitation', description: 'team', revoked: null, createdBy: 'key:tests' });
    expect(made.body.token).toMatch(/^gha_[A-Za-z0-9_-]{43}$/);
    expect(made.body.link).toBe(`${api.server.url}/invite/${made.body.token}`);
    expect(made.body.clients).toEqual(['web', 'other']);
    expect(Date.parse(made.body.expires)).toBeGreaterThanOrEqual(from + 30 * day);
    expect(Date.parse(made.body.expires)).toBeLessThan(from + 30 * day + 60_000);

    const shown = await api.call('GET', `/acl-tokens/${made.body.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: made.body.id, uses: 0, state: 'active', users: [], redeemedBy: [] });
    expect(shown.body.clients.map((c: { client: string }) => c.client).sort()).toEqual(['other', 'web']);
    for (const c of shown.body.clients) {
      expect(c).toMatchObject({ state: 'active', revoked: null });
      expect(Date.parse(c.expires)).toBeGreaterThanOrEqual(from + 90 * day);
    }
    const listed = await api.call('GET', '/acl-tokens');
    expect(listed.body.items).toContainEqual(expect.objectContaining({ id: made.body.id, state: 'active', uses: 0, maxUsers: 3 }));
    expect(listed.body.nextCursor).toBeNull();
    for (const text of [JSON.stringify(shown.body), JSON.stringify(listed.body)])
      expect(secretsIn(text, made.body.token)).toEqual([false, false, false, false]);
  });

  it('accepts ISO dates, pages the list, and filters it by state', async () => {
    const at = new Date(clock.now() + 10 * day).toISOString();
    const made = await api.call('POST', '/acl-tokens', { body: { maxUsers: 0, clients: ['web'], expires: at.slice(0, 10) } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ kind: 'global', maxUsers: 0, expires: `${at.slice(0, 10)}T00:00:00.000Z` });
    const first = await api.call('GET', '/acl-tokens?limit=1');
    expect(first.body.items).toHaveLength(1);
    const second = await api.call('GET', `/acl-tokens?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    expect((await api.call('GET', '/acl-tokens?state=revoked')).body.items).toEqual([]);
    expect((await api.call('GET', '/acl-tokens?state=nonsense')).body).toMatchObject({ error: 'input.invalid', field: 'state' });
  });

  it('names the field at fault, answers 404 for an unknown client or id, and creates nothing', async () => {
    const before = (await api.server.gh.aclTokens.list()).length;
    const clientTokensBefore = (await api.server.gh.aclTokens.listClientTokens()).length;
    const create = (body: unknown) => api.call('POST', '/acl-tokens', { body });
    const unknownClient = await create({ maxUsers: 2, clients: ['web', 'nope'] });
    expect(unknownClient.status).toBe(404);
    expect(unknownClient.body).toMatchObject({ error: 'not_found', field: 'clients', error_description: 'no client with id nope' });
    for (const [body, field] of [
      [{ maxUsers: 2 }, 'clients'],
      [{ maxUsers: 2, clients: [] }, 'clients'],
      [{ maxUsers: -1, clients: ['web'] }, 'maxUsers'],
      [{ maxUsers: 1.5, clients: ['web'] }, 'maxUsers'],
      [{ maxUsers: '2', clients: ['web'] }, 'maxUsers'],
      [{ maxUsers: 2, clients: ['web'], expires: 'yesterday' }, 'expires'],
      [{ maxUsers: 2, clients: ['web'], expires: '2020-01-01' }, 'expires'],
      [{ maxUsers: 2, clients: ['web'], expires: '2027-02-30' }, 'expires'],
      [{ maxUsers: 2, clients: ['web'], clientExpires: '0d' }, 'clientExpires'],
      [{ maxUsers: 2, clients: ['web'], clientExpires: 30 }, 'clientExpires'],
    ] as const) {
      const answer = await create(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body, JSON.stringify(body)).toMatchObject({ error: 'input.invalid', field });
    }
    expect((await create({ maxUsers: 2, clients: ['web'], expires: 'yesterday' })).body.error_description).toMatch(/"yesterday" is not a duration or date/);
    expect((await api.call('GET', '/acl-tokens/no-such-token')).status).toBe(404);
    expect((await api.call('POST', '/acl-tokens/no-such-token/revoke')).status).toBe(404);
    expect((await api.server.gh.aclTokens.list()).length).toBe(before);
    expect((await api.server.gh.aclTokens.listClientTokens()).length).toBe(clientTokensBefore);
  });

  it('reads as expired once the clock passes its expiry', async () => {
    const made = await api.call('POST', '/acl-tokens', { body: { maxUsers: 2, clients: ['web'], expires: '1h' } });
    skew += 2 * 3600_000;
    expect((await api.call('GET', `/acl-tokens/${made.body.id}`)).body.state).toBe('expired');
    expect((await api.call('GET', '/acl-tokens?state=expired')).body.items.map((t: { id: string }) => t.id)).toContain(made.body.id);
  });

  it('shows who redeemed it; after revoke that person is refused at the next authorization and refresh', async () => {
    const email = `redeemer-${kind}@example.com`;
    const password = 'a password for the redeemer';
    await insertLocalAccount(api.server.gh.db, {
      id: `acct-redeemer-${kind}`,
      email,
      name: 'Red Eemer',
      password_hash: await api.server.gh.passwords.hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    const made = await api.call('POST', '/acl-tokens', { body: { maxUsers: 1, clients: ['web'], description: 'personal' } });
    expect(made.body.kind).toBe('personal');
    const browser = new Browserless();
    const { code, verifier } = await obtainCode(api.server.url, {
      clientId: 'web',
      redirectUri,
      email,
      password,
      extra: { acl_token: made.body.token },
      browser,
    });
    const tokens = (await tokenRequest(api.server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }))
      .body;
    expect(tokens.refresh_token).toBeTruthy();

    const shown = await api.call('GET', `/acl-tokens/${made.body.id}`);
    expect(shown.body).toMatchObject({ uses: 1, state: 'used up' });
    expect(shown.body.users).toHaveLength(1);
    expect(shown.body.redeemedBy).toEqual([{ id: shown.body.users[0], email, name: 'Red Eemer' }]);
    expect((await api.call('GET', '/acl-tokens?state=used%20up')).body.items.map((t: { id: string }) => t.id)).toContain(made.body.id);

    const revoked = await api.call('POST', `/acl-tokens/${made.body.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: made.body.id, state: 'revoked' });
    expect(revoked.body.revoked).toEqual(expect.any(String));
    expect(revoked.body).not.toHaveProperty('token');
    expect((await api.call('GET', `/acl-tokens/${made.body.id}`)).body.state).toBe('revoked');

    const auth = `${api.server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const step = await browser.follow(auth, api.server.url);
    expect(step.response.status).toBe(403);
    expect(await step.response.text()).toContain('No access to Web App');
    const refresh = await tokenRequest(api.server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('creates a client token (the token once), lists and revokes it; refusals name the field', async () => {
    const made = await api.call('POST', '/client-tokens', { body: { client: 'other', expires: '7d' } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ client: 'other', state: 'active', revoked: null });
    expect(made.body.token).toMatch(/^ghc_[A-Za-z0-9_-]{43}$/);
    const listed = await api.call('GET', '/client-tokens?client=other');
    expect(listed.body.items.map((c: { id: string }) => c.id)).toContain(made.body.id);
    expect(listed.body.items.every((c: { client: string }) => c.client === 'other')).toBe(true);
    expect(JSON.stringify(listed.body)).not.toContain(made.body.token);
    expect(JSON.stringify(listed.body)).not.toContain('ghc_');

    const revoked = await api.call('POST', `/client-tokens/${made.body.id}/revoke`);
    expect(revoked.body).toMatchObject({ id: made.body.id, client: 'other', state: 'revoked' });
    expect((await api.call('POST', '/client-tokens/no-such-token/revoke')).status).toBe(404);
    const unknown = await api.call('POST', '/client-tokens', { body: { client: 'nope', expires: '7d' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'not_found', field: 'client' });
    expect((await api.call('POST', '/client-tokens', { body: { client: 'web' } })).body).toMatchObject({ error: 'input.invalid', field: 'expires' });
    expect((await api.call('POST', '/client-tokens', { body: { client: 'web', expires: 'soon' } })).body).toMatchObject({
      error: 'input.invalid',
      field: 'expires',
    });
  });

  it('audits every change as the API key', async () => {
    const actions = (await api.server.gh.db('audit_log').where({ actor: 'key:tests' }).select('action')).map((a: { action: string }) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['acl_token.created', 'acl_token.revoked', 'client_token.created', 'client_token.revoked']));
  });
});
