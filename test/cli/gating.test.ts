/**
 * The gating CLI run as a child process against a real database, with manual
 * first-auth gating and two static clients (SPEC 3 and 4): `acl-token`
 * create/list/show/revoke (the secret printed once, never listed), `client-token`
 * create/list/revoke, `user create --acl-token-id` and `user show` (access per
 * client with expiry), and `join-request` list/approve/deny with the mails they
 * queue. Bad flags: a clear line on stderr, a non-zero exit, no stack trace and
 * nothing written. On SQLite and PostgreSQL.
 *
 * The CLI runs in this process (test/cli/in-process.ts); one refusal runs the
 * real program as a child process, for the process boundary. What the CLI did
 * is checked through a Gatehouse opened on the same config in this process;
 * join requests are filed through it too.
 */
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { upsertModel } from '../../src/db/repos/oidc-models.ts';
import { insertRegisteredClient } from '../../src/db/repos/registration.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { sha256 } from '../../src/lib/secrets.ts';
import { runInProcess } from './in-process.ts';
import { expectRefusal, parsed } from '../helpers/cli-answers.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, messageLines, runGatehouse, type RunResult, stackLine, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

/** With a path prefix, so the link is checked to be built on the issuer, not on its origin. */
const issuer = 'http://127.0.0.1:3000/id';
const password = 'correct horse battery staple';
const day = 86_400_000;
const actor = `cli:${userInfo().username}`;

interface AclTokenJson {
  id: string;
  description: string | null;
  kind: string;
  maxUsers: number;
  uses: number;
  state: string;
  expires: string | null;
  revoked: string | null;
  created: string;
  createdBy: string;
}

interface CreatedAclTokenJson extends AclTokenJson {
  token: string;
  link: string;
  clients: string[];
}

interface ClientTokenJson {
  id: string;
  client: string;
  state: string;
  expires: string | null;
  revoked: string | null;
  created: string;
}

interface ShownAclTokenJson extends AclTokenJson {
  clients: ClientTokenJson[];
  users: string[];
}

interface AccessJson {
  client: string;
  aclTokenId: string;
  expires: string | null;
}

interface UserJson {
  id: string;
  email: string;
  status: string;
  access: AccessJson[];
  identities?: { connector: string; subject: string; email: string }[];
}

interface JoinRequestJson {
  id: string;
  kind: string;
  status: string;
  email: string;
  name: string;
  client: string;
  message: string | null;
  decidedBy: string | null;
  decided: string | null;
  aclTokenId: string | null;
}

interface MailRow {
  to: string;
  subject: string;
  text: string;
}

/** An ISO time `offset` ms after some moment in [from, to] (the span of the run that computed it). */
function expectAbout(iso: string | null | undefined, from: number, to: number, offset: number): void {
  expect(iso).toEqual(expect.any(String));
  const at = Date.parse(iso as string);
  expect(at).toBeGreaterThanOrEqual(from + offset);
  expect(at).toBeLessThanOrEqual(to + offset);
}

describe.each(databaseKinds)('gatehouse gating commands on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  /** The same config and database, opened in this process. */
  let gh: Gatehouse;
  /**
   * The CLI in this process (a spawn costs ~2 s of CPU), stdin fed from `input`.
   * The process boundary (exit code, stdout and stderr apart, no stack trace) is
   * covered by the one real child process: the expired invitation on SQLite.
   */
  const run = (args: string[], input?: string) => runInProcess(['--config', ws.configPath, ...args], input);
  /** Runs with `--json`, noting when it started and ended (for expiry checks). */
  const timed = async (args: string[], input?: string) => {
    const from = Date.now();
    const result = await run([...args, '--json'], input);
    return { result, from, to: Date.now() };
  };
  const aclTokenIds = async () => (await gh.aclTokens.list()).map((r) => r.id).sort();
  const clientTokenIds = async () => (await gh.aclTokens.listClientTokens()).map((r) => r.id).sort();
  const userIds = async () => (await gh.users.list()).map((u) => u.id).sort();

  // State carried from test to test (they run in order).
  let team: CreatedAclTokenJson;
  let teamCreatedFrom = 0;
  let teamCreatedTo = 0;
  let user: UserJson;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(
      db,
      [
        `issuer: ${issuer}`,
        `database: ${databaseYaml(db)}`,
        'connectors:',
        '  - { id: local, type: local, name: Email }',
        'clients:',
        '  - { client_id: app, client_secret: app-secret-0123456789abcdef, client_name: App, redirect_uris: [https://app.example.com/cb] }',
        '  - { client_id: other, client_secret: other-secret-0123456789abcdef, client_name: Other, redirect_uris: [https://other.example.com/cb] }',
        'firstauth: { enable: true, mode: manual, mailer: { receiver: boss@example.com } }',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    gh = createGatehouse(loadConfig(ws.configPath, {}), { logger: createLogger('silent') });
    await migrateLatest(gh.db);
  });

  afterAll(async () => {
    await gh?.close();
    ws?.cleanup();
    await db?.drop();
  });

  describe('acl-token', () => {
    it('create prints one JSON object with the token (once), the invitation link and the clients', async () => {
      const { result, from, to } = await timed([
        'acl-token',
        'create',
        '--max-users',
        '3',
        '--client',
        'app',
        '--client',
        'other',
        '--expires',
        '30d',
        '--client-expires',
        '90d',
        '--description',
        'team',
      ]);
      const created = parsed<CreatedAclTokenJson>(result);
      expect(Array.isArray(created)).toBe(false);
      expect(created).toMatchObject({ maxUsers: 3, uses: 0, state: 'active', description: 'team', kind: 'invitation', revoked: null, createdBy: actor });
      expect(created.id).toEqual(expect.any(String));
      expect(created.token).toMatch(/^gha_[A-Za-z0-9_-]{43,}$/);
      expect(created.link).toBe(`${issuer}/invite/${created.token}`);
      expect(created.clients).toEqual(['app', 'other']);
      expectAbout(created.expires, from, to, 30 * day);
      team = created;
      teamCreatedFrom = from;
      teamCreatedTo = to;

      // Stored as a hash only.
      const row = (await gh.aclTokens.list()).find((r) => r.id === created.id);
      expect(row).toMatchObject({ max_users: 3, uses: 0, token_hash: sha256(created.token) });
      expect(JSON.stringify(row)).not.toContain(created.token);
    });

    it('list never shows the token nor its hash', async () => {
      const result = await run(['acl-token', 'list', '--json']);
      const list = parsed<AclTokenJson[]>(result);
      expect(list).toEqual([expect.objectContaining({ id: team.id, maxUsers: 3, uses: 0, state: 'active', description: 'team' })]);
      expect(result.stdout).not.toContain(team.token);
      expect(result.stdout).not.toContain(team.token.slice(4));
      expect(result.stdout).not.toContain(sha256(team.token));
      expect(result.stdout).not.toMatch(/token_?hash/i);
      expect(result.stdout).not.toContain('gha_');
    });

    it('show lists the clients with the access expiry (--client-expires) and no users yet', async () => {
      const result = await run(['acl-token', 'show', team.id, '--json']);
      const shown = parsed<ShownAclTokenJson>(result);
      expect(shown).toMatchObject({ id: team.id, maxUsers: 3, uses: 0, state: 'active', users: [] });
      expect(shown.clients.map((c) => c.client)).toEqual(['app', 'other']);
      for (const client of shown.clients) {
        expect(client).toMatchObject({ state: 'active', revoked: null });
        expectAbout(client.expires, teamCreatedFrom, teamCreatedTo, 90 * day);
      }
      expect(result.stdout).not.toContain(team.token);
      expect(result.stdout).not.toContain(sha256(team.token));
      expect(result.stdout).not.toMatch(/token_?hash/i);
    });

    it('refuses bad flags with one clear line and a non-zero exit, creating nothing', async () => {
      const tokensBefore = await aclTokenIds();
      const clientTokensBefore = await clientTokenIds();
      const create = (...flags: string[]) => run(['acl-token', 'create', ...flags, '--json']);
      // Independent and read-only: run together.
      const [unknownClient, negative, notANumber, noClient, yesterday, past] = await Promise.all([
        create('--max-users', '3', '--client', 'app', '--client', 'nope'),
        create('--max-users', '-1', '--client', 'app'),
        create('--max-users', 'abc', '--client', 'app'),
        create('--max-users', '3'),
        create('--max-users', '3', '--client', 'app', '--expires', 'yesterday'),
        create('--max-users', '3', '--client', 'app', '--expires', '2020-01-01'),
      ]);
      expectRefusal(unknownClient!, 66, /^gatehouse: no client with id nope$/);
      expectRefusal(negative!, 64, /^gatehouse: --max-users must be a whole number.*"-1"/);
      expectRefusal(notANumber!, 64, /^gatehouse: --max-users must be a whole number.*"abc"/);
      expectRefusal(noClient!, 64, /^gatehouse: required option '--client <ids\.\.\.>' not specified$/);
      expectRefusal(yesterday!, 64, /^gatehouse: "yesterday" is not a duration or date/);
      expectRefusal(past!, 64, /^gatehouse: "2020-01-01" lies in the past$/);

      expect(await aclTokenIds()).toEqual(tokensBefore);
      expect(await clientTokenIds()).toEqual(clientTokensBefore);
    });

    it('revoke marks the token revoked in list and show; an unknown id exits 66', async () => {
      const spare = await gh.aclTokens.create({ maxUsers: 2, clients: ['app'], description: 'spare' }, 'test');
      const revoked = parsed<AclTokenJson>(await run(['acl-token', 'revoke', spare.row.id, '--json']));
      expect(revoked).toMatchObject({ id: spare.row.id, state: 'revoked' });
      expect(revoked.revoked).toEqual(expect.any(String));

      const list = parsed<AclTokenJson[]>(await run(['acl-token', 'list', '--json']));
      expect(list.find((t) => t.id === spare.row.id)).toMatchObject({ state: 'revoked' });
      expect(list.find((t) => t.id === team.id)).toMatchObject({ state: 'active' });
      const shown = parsed<ShownAclTokenJson>(await run(['acl-token', 'show', spare.row.id, '--json']));
      expect(shown).toMatchObject({ id: spare.row.id, state: 'revoked' });
      // Within a second: AclTokens.revoke reports a second clock reading, not the stored one (a few ms apart).
      expect(Math.abs(Date.parse(shown.revoked!) - Date.parse(revoked.revoked!))).toBeLessThan(1000);

      expectRefusal(await run(['acl-token', 'revoke', 'no-such-token', '--json']), 66, /^gatehouse: no ACL token with id no-such-token$/);
    });
  });

  describe('client-token', () => {
    let clientTokenId: string;

    it('create prints one JSON object with the id and the token, once', async () => {
      const { result, from, to } = await timed(['client-token', 'create', '--client', 'app', '--expires', '7d']);
      const created = parsed<ClientTokenJson & { token: string }>(result);
      expect(Array.isArray(created)).toBe(false);
      expect(created).toMatchObject({ client: 'app', state: 'active', revoked: null });
      expect(created.id).toEqual(expect.any(String));
      expect(created.token).toMatch(/^ghc_[A-Za-z0-9_-]{43,}$/);
      expectAbout(created.expires, from, to, 7 * day);
      clientTokenId = created.id;

      const list = await run(['client-token', 'list', '--json']);
      expect(parsed<ClientTokenJson[]>(list)).toContainEqual(expect.objectContaining({ id: created.id, client: 'app', state: 'active' }));
      expect(list.stdout).not.toContain(created.token);
      expect(list.stdout).not.toContain(sha256(created.token));
      expect(list.stdout).not.toContain('ghc_');
    });

    it('revoke marks it revoked', async () => {
      const revoked = parsed<ClientTokenJson>(await run(['client-token', 'revoke', clientTokenId, '--json']));
      expect(revoked).toMatchObject({ id: clientTokenId, client: 'app', state: 'revoked' });
      expect((await gh.aclTokens.listClientTokens()).find((c) => c.id === clientTokenId)?.revoked_at).toEqual(expect.any(Number));
    });

    it('refuses a create without --expires, an unknown client and an unknown id, creating nothing', async () => {
      const before = await clientTokenIds();
      const [noExpiry, unknownClient, unknownId] = await Promise.all([
        run(['client-token', 'create', '--client', 'app', '--json']),
        run(['client-token', 'create', '--client', 'nope', '--expires', '7d', '--json']),
        run(['client-token', 'revoke', 'no-such-token', '--json']),
      ]);
      expectRefusal(noExpiry!, 64, /^gatehouse: required option '--expires <duration>' not specified$/);
      expectRefusal(unknownClient!, 66, /^gatehouse: no client with id nope$/);
      expectRefusal(unknownId!, 66, /^gatehouse: no client token with id no-such-token$/);
      expect(await clientTokenIds()).toEqual(before);
    });
  });

  describe('user create --acl-token-id and user show', () => {
    it('creates the user with the access the invitation links, and counts one use', async () => {
      const result = await run(['user', 'create', '--email', 'u@example.com', '--password-stdin', '--acl-token-id', team.id, '--json'], `${password}\n`);
      user = parsed<UserJson>(result);
      expect(user).toMatchObject({ email: 'u@example.com', status: 'active' });
      expect(user.access.map((a) => a.client)).toEqual(['app', 'other']);
      for (const access of user.access) {
        expect(access.aclTokenId).toBe(team.id);
        expect(access.expires).toEqual(expect.any(String));
        expect(Date.parse(access.expires as string)).toBeGreaterThan(Date.now() + 29 * day);
      }

      const shown = parsed<ShownAclTokenJson>(await run(['acl-token', 'show', team.id, '--json']));
      expect(shown).toMatchObject({ id: team.id, uses: 1, state: 'active', users: [user.id] });
    });

    it('gives access until --client-expires, not until the invitation itself expires (SPEC 3 rule 7)', () => {
      for (const access of user.access) expectAbout(access.expires, teamCreatedFrom, teamCreatedTo, 90 * day);
    });

    it('user show includes the identity and the access per client with expiry', async () => {
      const shown = parsed<UserJson>(await run(['user', 'show', user.id, '--json']));
      expect(shown).toMatchObject({ id: user.id, email: 'u@example.com', status: 'active' });
      expect(shown.identities).toEqual([expect.objectContaining({ connector: 'local', email: 'u@example.com' })]);
      expect(shown.access).toEqual(user.access);
    });

    it('refuses a revoked or unknown invitation and creates no user', async () => {
      const revokedToken = await gh.aclTokens.create({ maxUsers: 2, clients: ['app'] }, 'test');
      await gh.aclTokens.revoke(revokedToken.row.id, 'test');
      const before = await userIds();

      const revoked = await run(
        ['user', 'create', '--email', 'r@example.com', '--password-stdin', '--acl-token-id', revokedToken.row.id, '--json'],
        `${password}\n`,
      );
      expectRefusal(revoked, 77, /^gatehouse: This invitation has been revoked\.$/);
      const unknown = await run(
        ['user', 'create', '--email', 'r@example.com', '--password-stdin', '--acl-token-id', 'no-such-token', '--json'],
        `${password}\n`,
      );
      expectRefusal(unknown, 66, /^gatehouse: no ACL token with id no-such-token$/);

      expect(await userIds()).toEqual(before);
      expect((await gh.users.list()).map((u) => u.email)).not.toContain('r@example.com');
      expect((await gh.aclTokens.get(revokedToken.row.id)).uses).toBe(0);
    });

    let expiredRefusal: RunResult;
    it('refuses an expired invitation and creates no user', async () => {
      const expired = await gh.aclTokens.create({ maxUsers: 2, clients: ['app'], expiresAt: Date.now() - 60_000 }, 'test');
      const before = await userIds();
      const args = ['--config', ws.configPath, 'user', 'create', '--email', 'x@example.com', '--password-stdin', '--acl-token-id', expired.row.id, '--json'];
      // The real program, once per file: its exit code, its stdout and stderr apart, no stack trace.
      expiredRefusal = kind === 'sqlite' ? await runGatehouse(args, { cwd: ws.cwd, input: `${password}\n` }) : await runInProcess(args, `${password}\n`);
      expect(expiredRefusal.code).not.toBe(0);
      expect(expiredRefusal.stdout).toBe('');
      expect(expiredRefusal.stderr).not.toMatch(stackLine);
      expect(await userIds()).toEqual(before);
      expect((await gh.aclTokens.get(expired.row.id)).uses).toBe(0);
    });

    it('says an expired invitation has expired (SPEC 3 rule 11)', () => {
      expectRefusal(expiredRefusal, 77, /^gatehouse: This invitation has expired\.$/);
    });
  });

  describe('join-request', () => {
    let approvedId: string;
    let deniedId: string;
    let approved: JoinRequestJson;

    it('list --status pending shows requests filed by the server', async () => {
      const asker = await gh.joinRequests.file({
        identity: { connectorId: 'local', subject: 's1', emailVerified: true },
        clientId: 'app',
        email: 'asker@example.com',
        name: 'Asker',
        message: 'hi',
      });
      const other = await gh.joinRequests.file({
        identity: { connectorId: 'local', subject: 's2', emailVerified: true },
        clientId: 'other',
        email: 'nope@example.com',
        name: 'Nope',
        message: '',
      });
      approvedId = asker.id;
      deniedId = other.id;

      const list = parsed<JoinRequestJson[]>(await run(['join-request', 'list', '--status', 'pending', '--json']));
      expect(list).toHaveLength(2);
      expect(list).toContainEqual(
        expect.objectContaining({
          id: asker.id,
          kind: 'join',
          status: 'pending',
          email: 'asker@example.com',
          name: 'Asker',
          client: 'app',
          message: 'hi',
          decidedBy: null,
          aclTokenId: null,
        }),
      );
      expect(list).toContainEqual(expect.objectContaining({ id: other.id, status: 'pending', email: 'nope@example.com', client: 'other' }));
    });

    it('approve: approved by cli:<user>, with a personal invitation for the client', async () => {
      approved = parsed<JoinRequestJson>(await run(['join-request', 'approve', approvedId, '--json']));
      expect(approved).toMatchObject({ id: approvedId, status: 'approved', decidedBy: actor, email: 'asker@example.com', client: 'app' });
      expect(approved.decided).toEqual(expect.any(String));
      expect(approved.aclTokenId).toEqual(expect.any(String));

      const token = await gh.aclTokens.get(approved.aclTokenId!);
      expect(token).toMatchObject({ kind: 'personal', max_users: 1, uses: 0, revoked_at: null });
      expect(token.clients.map((c) => c.client_id)).toEqual(['app']);
      expect((await gh.joinRequests.get(approvedId)).status).toBe('approved');
    });

    it('approving again is refused as already decided', async () => {
      const again = await run(['join-request', 'approve', approvedId, '--json']);
      expectRefusal(again, 73, /already been decided/);
      expect(messageLines(again.stderr)[0]).toContain(`approved by ${actor}`);
      // No second invitation was made.
      expect((await gh.aclTokens.list()).filter((t) => t.kind === 'personal')).toHaveLength(1);
    });

    it('deny: denied, no token', async () => {
      const denied = parsed<JoinRequestJson>(await run(['join-request', 'deny', deniedId, '--json']));
      expect(denied).toMatchObject({ id: deniedId, status: 'denied', decidedBy: actor, aclTokenId: null });
      expect(await gh.joinRequests.list('pending')).toEqual([]);
    });

    it('refuses an unknown status and an unknown id', async () => {
      const [bogus, unknown] = await Promise.all([
        run(['join-request', 'list', '--status', 'bogus', '--json']),
        run(['join-request', 'deny', 'no-such-request', '--json']),
      ]);
      expectRefusal(
        bogus!,
        64,
        /^gatehouse: option '--status <status>' argument 'bogus' is invalid\. Allowed choices are pending, approved, denied, expired\.$/,
      );
      expectRefusal(unknown!, 66, /^gatehouse: no join request with id no-such-request$/);
    });

    it('queued the request mails, the invitation (whose link opens the approved token) and the refusal', async () => {
      const mails: MailRow[] = await gh.db('mail_outbox').select('to', 'subject', 'text').orderBy('id');
      expect(mails.filter((m) => m.to === 'boss@example.com')).toHaveLength(2);

      const invitations = mails.filter((m) => m.to === 'asker@example.com');
      expect(invitations).toHaveLength(1);
      expect(invitations[0]!.text).toContain(`${issuer}/invite/gha_`);
      const link = /\/invite\/(gha_[A-Za-z0-9_-]+)/.exec(invitations[0]!.text);
      expect(link).not.toBeNull();
      const checked = await gh.aclTokens.check(gh.db, link![1]!, { id: 'app', name: 'App' });
      expect(checked.id).toBe(approved.aclTokenId);

      const refusals = mails.filter((m) => m.to === 'nope@example.com');
      expect(refusals).toHaveLength(1);
      expect(refusals[0]!.text).not.toContain('/invite/');
      expect(refusals[0]!.text).toMatch(/not approved/);
    });
  });

  describe('join-request approve --for and show', () => {
    it('approve --for 30d time-boxes the access (the personal client token ends then); show prints the end', async () => {
      const request = await gh.joinRequests.file({
        identity: { connectorId: 'local', subject: 's-timed', emailVerified: true },
        clientId: 'other',
        email: 'timed@example.com',
        name: 'Timed',
        message: '',
      });
      const { result, from, to } = await timed(['join-request', 'approve', request.id, '--for', '30d']);
      const approved = parsed<JoinRequestJson & { accessEnds: string | null }>(result);
      expect(approved).toMatchObject({ id: request.id, status: 'approved', decidedBy: actor, client: 'other' });
      expectAbout(approved.accessEnds, from, to, 30 * day);
      const token = await gh.aclTokens.get(approved.aclTokenId!);
      expect(token.clients.map((c) => [c.client_id, c.expires_at])).toEqual([['other', Date.parse(approved.accessEnds!)]]);
      const shown = parsed<JoinRequestJson & { accessEnds: string | null }>(await run(['join-request', 'show', request.id, '--json']));
      expect(shown).toMatchObject({ id: request.id, status: 'approved', accessEnds: approved.accessEnds });
    });

    it('refuses a bad --for with one line and decides nothing', async () => {
      const request = await gh.joinRequests.file({
        identity: { connectorId: 'local', subject: 's-bad-for', emailVerified: true },
        clientId: 'other',
        email: 'badfor@example.com',
        name: 'Bad For',
        message: '',
      });
      expectRefusal(await run(['join-request', 'approve', request.id, '--for', 'soon', '--json']), 64, /^gatehouse: for: "soon" is not a duration or date/);
      expectRefusal(await run(['join-request', 'approve', request.id, '--for', '2020-01-01', '--json']), 64, /^gatehouse: for: "2020-01-01" lies in the past$/);
      expect((await gh.joinRequests.get(request.id)).status).toBe('pending');
    });
  });

  describe('client set-approvers', () => {
    it("sets a registered client's approvers (its requests go to them), clears them with --clear, and refuses a static client", async () => {
      const now = Date.now();
      await upsertModel(gh.db, {
        kind: 'Client',
        id: 'wiki',
        payload: JSON.stringify({ client_id: 'wiki', client_name: 'Wiki', redirect_uris: ['https://wiki.example.com/cb'] }),
        grant_id: null,
        user_code: null,
        uid: null,
        account_id: null,
        expires_at: null,
        consumed_at: null,
      });
      await insertRegisteredClient(gh.db, {
        client_id: 'wiki',
        registration_token_id: null,
        via: 'rfc7591',
        kind: 'application',
        disabled_reason: null,
        disabled_at: null,
        created_at: now,
      });
      const set = parsed<{ id: string; approvers: string[] }>(
        await run(['client', 'set-approvers', 'wiki', 'Lead@example.com', 'second@example.com', '--json']),
      );
      expect(set).toMatchObject({ id: 'wiki', source: 'registered', approvers: ['lead@example.com', 'second@example.com'] });
      expect(await gh.joinRequests.approversFor('wiki')).toEqual(['lead@example.com', 'second@example.com']);
      const audit = await gh.db('audit_log').where({ action: 'client.approvers_set', subject: 'wiki', actor });
      expect(audit).toHaveLength(1);

      expectRefusal(
        await run(['client', 'set-approvers', 'wiki', '--json']),
        64,
        /^gatehouse: give the approvers' e-mail addresses .* or --clear to remove them$/,
      );
      expectRefusal(
        await run(['client', 'set-approvers', 'wiki', 'a@example.com', '--clear', '--json']),
        64,
        /^gatehouse: give either e-mail addresses or --clear, not both$/,
      );
      expectRefusal(await run(['client', 'set-approvers', 'wiki', 'not-an-email', '--json']), 64, /^gatehouse: "not-an-email" is not an e-mail address$/);
      expectRefusal(
        await run(['client', 'set-approvers', 'app', 'a@example.com', '--json']),
        64,
        /^gatehouse: app is a static client: its approvers are set in config\.yaml/,
      );
      expectRefusal(await run(['client', 'set-approvers', 'nope', 'a@example.com', '--json']), 66, /^gatehouse: no client with id nope$/);

      const cleared = parsed<{ approvers: string[] }>(await run(['client', 'set-approvers', 'wiki', '--clear', '--json']));
      expect(cleared.approvers).toEqual([]);
      expect(await gh.joinRequests.approversFor('wiki')).toEqual(['boss@example.com']);
    });
  });
});
