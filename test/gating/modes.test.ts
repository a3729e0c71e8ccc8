/**
 * The first-auth modes (SPEC 3, rules 3, 5 and 6) over HTTP, on SQLite and
 * PostgreSQL: auto mode ensures one global ACL token with a client token for
 * every static client at every start (clients added later are linked, nothing
 * is duplicated, not even by two instances starting at once) and lets first
 * logins straight in; none mode and `enable: false` create users with no
 * prompt and no ACL token; manual mode stops a first login without a token at
 * the gate page and creates no user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AclTokenRow, ClientTokenRow } from '../../src/db/repos/acl-tokens.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import type { Db } from '../../src/db/knex.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { databaseYaml, writeWorkspace } from '../cli/gatehouse.ts';
import { parsed, runInProcess } from '../cli/in-process.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const other = { client_id: 'other', client_secret: 'other-secret-0123456789', client_name: 'Other App', redirect_uris: [redirectUri] };
const extra = { client_id: 'extra', client_secret: 'extra-secret-0123456789', client_name: 'Extra App', redirect_uris: [redirectUri] };

const count = async (db: Db, table: string, where: Record<string, unknown> = {}): Promise<number> =>
  Number((await db(table).where(where).count<{ n: number | string }[]>({ n: '*' }).first())?.n ?? 0);

/** A local account (e-mail + password) that has no Gatehouse user yet: its first login is a first login. */
async function newcomer(server: TestServer, id: string): Promise<{ id: string; email: string; password: string }> {
  const email = `${id}@example.com`;
  const password = `password-of-${id}`;
  await insertLocalAccount(server.gh.db, {
    id,
    email,
    name: null,
    password_hash: await server.gh.passwords.hash(password),
    email_verified_at: Date.now(),
    created_at: Date.now(),
  });
  return { id, email, password };
}

/** The user row behind a local account, if a login made one. */
async function userOf(db: Db, accountId: string): Promise<{ id: string } | undefined> {
  const link = (await db('user_idp').where({ connector_id: 'local', subject: accountId }).first()) as { user_id: string } | undefined;
  return link ? db('user').where({ id: link.user_id }).first() : undefined;
}

async function globalTokens(db: Db): Promise<AclTokenRow[]> {
  return db('acl_token').where({ kind: 'global' }).orderBy('created_at');
}

async function clientTokensOf(db: Db, aclTokenId: string): Promise<ClientTokenRow[]> {
  return db('client_token as c')
    .join('acl_token_client_token as l', 'l.client_token_id', 'c.id')
    .where('l.acl_token_id', aclTokenId)
    .select('c.*')
    .orderBy('c.client_id');
}

/** client_id -> number of client_token rows, over the whole table. */
async function clientTokenCounts(db: Db): Promise<Record<string, number>> {
  const rows = (await db('client_token').select('client_id')) as { client_id: string }[];
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.client_id] = (counts[r.client_id] ?? 0) + 1;
  return counts;
}

/** Starts a sign-in for `clientId` and posts the password; returns what the login POST answered. */
async function postPassword(
  server: TestServer,
  who: { email: string; password: string },
  clientId = 'web',
): Promise<{ status: number; location: string | null; html: string }> {
  const browser = new Browserless();
  const auth = `${server.url}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
  const start = await browser.request(auth);
  expect(start.status).toBe(303);
  const interaction = new URL(start.headers.get('location')!, server.url).href;
  const page = await browser.request(interaction);
  const html = await page.text();
  expect(html).toContain('name="password"');
  const res = await browser.request(`${interaction}/login`, { form: { _csrf: csrfOf(html), email: who.email, password: who.password } });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

/** A config for the admin CLI on the server's database (auto mode), run in this process. */
function cliWorkspace(db: TestDatabase, server: TestServer) {
  return writeWorkspace(
    db,
    [
      `issuer: ${server.url}`,
      `database: ${databaseYaml(db)}`,
      'connectors:',
      '  - { id: local, type: local, name: Email }',
      'firstauth: { enable: true, mode: auto }',
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
}

describe.each(databaseKinds)('auto mode on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer | undefined;
  const auto = { enable: true, mode: 'auto' };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // admins are configured, but the bootstrap invitation is a manual-mode thing: none here.
    server = await startTestServer(db, { clients: [web, other, testClients.service], firstauth: auto, admins: ['admin@example.com'] });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('ensures exactly one global ACL token (max_users 0) linking a live client token for every static client, and nothing else', async () => {
    const { db: knex } = server!.gh;
    const globals = await globalTokens(knex);
    expect(globals).toHaveLength(1);
    const [global] = globals;
    expect(global!.max_users).toBe(0);
    expect(global!.revoked_at).toBeNull();
    expect(global!.expires_at).toBeNull();
    expect(global!.uses).toBe(0);
    const linked = await clientTokensOf(knex, global!.id);
    expect(linked.map((c) => c.client_id)).toEqual(['other', 'service', 'web']);
    for (const c of linked) {
      expect(c.revoked_at).toBeNull();
      expect(c.expires_at).toBeNull();
    }
    // No bootstrap invitation nor any other token in auto mode.
    expect(await count(knex, 'acl_token')).toBe(1);
    expect(await clientTokenCounts(knex)).toEqual({ other: 1, service: 1, web: 1 });
  });

  it('lets a first login straight through (no gate page) and links the new user to the global token', async () => {
    const { db: knex } = server!.gh;
    const who = await newcomer(server!, `auto-${kind}-1`);
    expect(await userOf(knex, who.id)).toBeUndefined();
    const usersBefore = await count(knex, 'user');
    // The login POST itself goes on to the provider (303), no gate page (200 "An invitation is needed").
    const posted = await postPassword(server!, who);
    expect(posted.status).toBe(303);
    expect(posted.html).not.toContain('An invitation is needed');
    const user = await userOf(knex, who.id);
    expect(user).toBeDefined();
    expect(await count(knex, 'user')).toBe(usersBefore + 1);
    const [global] = await globalTokens(knex);
    expect(await knex('user_acl_token').where({ user_id: user!.id }).pluck('acl_token_id')).toEqual([global!.id]);
    expect(global!.uses).toBe(1);

    // The whole way to tokens, with the refresh (where access is checked again) working.
    const browser = new Browserless();
    const { code, verifier } = await obtainCode(server!.url, { clientId: 'web', redirectUri, email: who.email, password: who.password, browser });
    const tokens = await tokenRequest(server!.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(tokens.status).toBe(200);
    const claims = JSON.parse(Buffer.from(String(tokens.body.id_token).split('.')[1]!, 'base64url').toString()) as { sub: string };
    expect(claims.sub).toBe(user!.id);
    const refreshed = await tokenRequest(server!.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    expect(refreshed.status).toBe(200);
    // The global token opens the other static client too, with no gate in between.
    await obtainCode(server!.url, { clientId: 'other', redirectUri, email: who.email, password: who.password, browser });
    // A second login is not a first login: still one user, one link, one use.
    expect(await count(knex, 'user')).toBe(usersBefore + 1);
    expect(await count(knex, 'user_acl_token', { user_id: user!.id })).toBe(1);
    expect((await globalTokens(knex))[0]!.uses).toBe(1);
  });

  it('lets a user made with `gatehouse user create` in (linked to the global token at its first authorization, one use counted once)', async () => {
    const { db: knex } = server!.gh;
    const ws = cliWorkspace(db, server!);
    try {
      const email = `cli-${kind}@example.com`;
      const password = 'made by the admin, in auto mode';
      const created = parsed<{ id: string; access: { client: string }[] }>(
        await runInProcess(['--config', ws.configPath, 'user', 'create', '--email', email, '--password-stdin', '--json'], `${password}\n`),
      );
      // `user show` tells the truth before the first sign-in: the global token's clients are reachable.
      expect(created.access.map((a) => a.client)).toEqual(['other', 'service', 'web']);
      const [global] = await globalTokens(knex);
      const usesBefore = global!.uses;
      expect(await count(knex, 'user_acl_token', { user_id: created.id })).toBe(0);

      const browser = new Browserless();
      const { code, verifier } = await obtainCode(server!.url, { clientId: 'web', redirectUri, email, password, browser });
      const tokens = await tokenRequest(server!.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
      expect(tokens.status).toBe(200);
      expect(await knex('user_acl_token').where({ user_id: created.id }).pluck('acl_token_id')).toEqual([global!.id]);
      expect((await globalTokens(knex))[0]!.uses).toBe(usesBefore + 1);
      // Another client, a refresh, another sign-in: linked once, counted once.
      await obtainCode(server!.url, { clientId: 'other', redirectUri, email, password, browser });
      expect((await tokenRequest(server!.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) })).status).toBe(200);
      await obtainCode(server!.url, { clientId: 'web', redirectUri, email, password });
      expect(await count(knex, 'user_acl_token', { user_id: created.id })).toBe(1);
      expect((await globalTokens(knex))[0]!.uses).toBe(usesBefore + 1);
      expect(
        await knex('audit_log')
          .where({ action: 'gate.allowed', actor: `user:${created.id}` })
          .count<{ n: number | string }[]>({ n: '*' })
          .first()
          .then((r) => Number(r?.n)),
      ).toBe(1);
    } finally {
      ws.cleanup();
    }
  });

  it('records a first sign-in as a login: `user show` and `user list` print its lastLogin', async () => {
    const who = await newcomer(server!, `first-login-${kind}`);
    const before = Date.now();
    await obtainCode(server!.url, { clientId: 'web', redirectUri, email: who.email, password: who.password });
    const after = Date.now();
    const user = await userOf(server!.gh.db, who.id);
    const ws = cliWorkspace(db, server!);
    try {
      const shown = parsed<{ lastLogin: string | null }>(await runInProcess(['--config', ws.configPath, 'user', 'show', user!.id, '--json']));
      expect(shown.lastLogin).not.toBeNull();
      expect(Date.parse(shown.lastLogin!)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(shown.lastLogin!)).toBeLessThanOrEqual(after);
      const listed = parsed<{ id: string; lastLogin: string | null }[]>(await runInProcess(['--config', ws.configPath, 'user', 'list', '--json']));
      expect(listed.find((u) => u.id === user!.id)?.lastLogin).toBe(shown.lastLogin);
    } finally {
      ws.cleanup();
    }
  });

  it('links many users made by an admin exactly once each when their first authorizations race', async () => {
    const { gh } = server!;
    const made = await Promise.all(Array.from({ length: 4 }, (_, i) => gh.users.createLocal({ email: `race-${kind}-${i}@example.com` }, 'test')));
    const usesBefore = (await globalTokens(gh.db))[0]!.uses;
    // Each user's first authorization arrives several times at once (tabs, a refresh racing a sign-in).
    const answers = await Promise.all(made.flatMap((u) => Array.from({ length: 3 }, () => gh.gate.hasAccess(u.id, 'web'))));
    expect(answers.every(Boolean)).toBe(true);
    expect((await globalTokens(gh.db))[0]!.uses).toBe(usesBefore + made.length);
    for (const u of made) expect(await count(gh.db, 'user_acl_token', { user_id: u.id })).toBe(1);
  });

  it('after a restart with one more static client: the same single global token, a client token for the new client, nothing duplicated', async () => {
    const before = (await globalTokens(server!.gh.db))[0]!;
    const beforeLinks = await clientTokensOf(server!.gh.db, before.id);
    await server!.stop();
    server = undefined;
    server = await startTestServer(db, { clients: [web, other, testClients.service, extra], firstauth: auto });
    const { db: knex } = server.gh;
    const globals = await globalTokens(knex);
    expect(globals.map((g) => g.id)).toEqual([before.id]);
    expect(globals[0]!.uses).toBe(before.uses);
    const linked = await clientTokensOf(knex, before.id);
    expect(linked.map((c) => c.client_id)).toEqual(['extra', 'other', 'service', 'web']);
    // The old client tokens are kept as they were, not replaced.
    for (const old of beforeLinks) expect(linked.find((c) => c.client_id === old.client_id)!.id).toBe(old.id);
    expect(await count(knex, 'acl_token')).toBe(1);
    expect(await clientTokenCounts(knex)).toEqual({ extra: 1, other: 1, service: 1, web: 1 });
    expect(await count(knex, 'acl_token_client_token')).toBe(4);

    // The user admitted before reaches the new client with no gate page.
    const who = { email: `auto-${kind}-1@example.com`, password: `password-of-auto-${kind}-1` };
    await obtainCode(server.url, { clientId: 'extra', redirectUri, email: who.email, password: who.password });

    // Once more with the same config: still nothing new.
    await server.stop();
    server = undefined;
    server = await startTestServer(db, { clients: [web, other, testClients.service, extra], firstauth: auto });
    expect((await globalTokens(server.gh.db)).map((g) => g.id)).toEqual([before.id]);
    expect(await clientTokenCounts(server.gh.db)).toEqual({ extra: 1, other: 1, service: 1, web: 1 });
    expect(await count(server.gh.db, 'acl_token_client_token')).toBe(4);
  });
});

describe.each(databaseKinds)('auto mode with several instances and with tokens made by an admin, on %s', (kind) => {
  let db: TestDatabase;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    await db?.drop();
  });

  it('keeps one global token and one client token per client when instances start at the same time', async () => {
    const config = { clients: [web, other, extra], firstauth: { enable: true, mode: 'auto' } };
    // Several instances on one database is a PostgreSQL set-up; SQLite has one server process
    // (several in this test process would block each other in better-sqlite3's busy wait).
    servers.push(await startTestServer(db, config));
    if (kind === 'postgres') servers.push(await startTestServer(db, config), await startTestServer(db, config));
    const knex = servers[0]!.gh.db;
    // Back to a database where no instance has run the start-up work yet, then all of them at once.
    await knex('acl_token_client_token').delete();
    await knex('client_token').delete();
    await knex('acl_token').delete();
    const ids = [web.client_id, other.client_id, extra.client_id];
    await Promise.all(Array.from({ length: 6 }, (_, i) => servers[i % servers.length]!.gh.gate.ensureGlobalToken(ids)));
    const globals = await globalTokens(knex);
    expect(globals).toHaveLength(1);
    expect((await clientTokensOf(knex, globals[0]!.id)).map((c) => c.client_id)).toEqual(['extra', 'other', 'web']);
    expect(await clientTokenCounts(knex)).toEqual({ extra: 1, other: 1, web: 1 });
    // And again, with one more client in the config: linked once, by one of them.
    await Promise.all(Array.from({ length: 6 }, (_, i) => servers[i % servers.length]!.gh.gate.ensureGlobalToken([...ids, 'service'])));
    expect(await clientTokenCounts(knex)).toEqual({ extra: 1, other: 1, service: 1, web: 1 });
    expect(await globalTokens(knex)).toHaveLength(1);
  });

  it('does not turn an unlimited invitation an admin made for one client into the auto-mode token for every client', async () => {
    for (const s of servers.splice(0)) await s.stop();
    const fresh = await createTestDatabase(kind);
    try {
      // Manual mode first: the admin hands out an unlimited invitation for `web` only.
      let server = await startTestServer(fresh, { clients: [web, other], firstauth: { enable: true, mode: 'manual' } });
      const invitation = await server.gh.aclTokens.create({ maxUsers: 0, clients: ['web'], description: 'everyone at the web desk' }, 'cli:admin');
      await server.stop();
      // Then the operator switches to auto mode.
      server = await startTestServer(fresh, { clients: [web, other], firstauth: { enable: true, mode: 'auto' } });
      try {
        const knex = server.gh.db;
        // The admin's invitation still opens `web` only: its secret is in people's hands.
        expect((await clientTokensOf(knex, invitation.row.id)).map((c) => c.client_id)).toEqual(['web']);
        const checked = server.gh.aclTokens.check(knex, invitation.token, { id: 'other', name: 'Other App' });
        await expect(checked).rejects.toMatchObject({ code: 'acl_token.wrong_client' });
        // And auto mode has its own token for every static client, which a first login is linked to.
        const system = (await globalTokens(knex)).filter((t) => t.id !== invitation.row.id);
        expect(system).toHaveLength(1);
        expect((await clientTokensOf(knex, system[0]!.id)).map((c) => c.client_id)).toEqual(['other', 'web']);
        const who = await newcomer(server, `switch-${kind}`);
        await obtainCode(server.url, { clientId: 'other', redirectUri, email: who.email, password: who.password });
        const user = await userOf(knex, who.id);
        expect(await knex('user_acl_token').where({ user_id: user!.id }).pluck('acl_token_id')).toEqual([system[0]!.id]);
        expect((await server.gh.aclTokens.get(invitation.row.id)).uses).toBe(0);
      } finally {
        await server.stop();
      }
    } finally {
      await fresh.drop();
    }
  });
});

describe.each(databaseKinds)('no gating (mode none, enable false) on %s', (kind) => {
  const cases: [string, Record<string, unknown>][] = [
    ['mode: none', { enable: true, mode: 'none' }],
    ['enable: false', { enable: false, mode: 'manual' }],
    ['firstauth absent', {}],
  ];
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it.each(cases)('%s: first logins create users with no prompt, and no ACL token is made or involved', async (label, firstauth) => {
    const server = await startTestServer(db, { clients: [web, other], admins: ['admin@example.com'], ...(Object.keys(firstauth).length ? { firstauth } : {}) });
    try {
      const knex = server.gh.db;
      expect(server.gh.gate.mode).toBe('open');
      const usersBefore = await count(knex, 'user');
      const who = await newcomer(server, `open-${kind}-${label.replace(/\W+/g, '-')}`);
      const posted = await postPassword(server, who);
      expect(posted.status).toBe(303);
      expect(posted.html).not.toContain('An invitation is needed');
      const user = await userOf(knex, who.id);
      expect(user).toBeDefined();
      expect(await count(knex, 'user')).toBe(usersBefore + 1);
      // The whole way to tokens and a refresh, and into a second client, with no gate.
      const { code, verifier, browser } = await obtainCode(server.url, { clientId: 'web', redirectUri, email: who.email, password: who.password });
      const tokens = await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
      expect(tokens.status).toBe(200);
      expect((await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) })).status).toBe(200);
      await obtainCode(server.url, { clientId: 'other', redirectUri, email: who.email, password: who.password, browser });
      expect(await count(knex, 'user')).toBe(usersBefore + 1);
      // No global token, no bootstrap invitation, no links.
      for (const table of ['acl_token', 'client_token', 'acl_token_client_token', 'user_acl_token']) expect(await count(knex, table)).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe.each(databaseKinds)('manual mode without a token on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [web, other], firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } } });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('stops a first login at the gate page and creates no user', async () => {
    const knex = server.gh.db;
    const who = await newcomer(server, `manual-${kind}`);
    const usersBefore = await count(knex, 'user');
    const idpsBefore = await count(knex, 'user_idp');
    const posted = await postPassword(server, who);
    expect(posted.status).toBe(200);
    expect(posted.html).toContain('An invitation is needed');
    expect(posted.html).toContain('Web App');
    expect(posted.html).toContain('name="acl_token"');
    expect(await count(knex, 'user')).toBe(usersBefore);
    expect(await count(knex, 'user_idp')).toBe(idpsBefore);
    expect(await userOf(knex, who.id)).toBeUndefined();
    // Nothing was made to let it in: no global token in manual mode.
    expect(await globalTokens(knex)).toEqual([]);
    expect(await count(knex, 'user_acl_token')).toBe(0);
    // obtainCode (which only knows login and consent pages) cannot get a code past the gate either.
    await expect(obtainCode(server.url, { clientId: 'web', redirectUri, email: who.email, password: who.password })).rejects.toThrow(/unexpected page/);
    expect(await count(knex, 'user')).toBe(usersBefore);
  });
});
