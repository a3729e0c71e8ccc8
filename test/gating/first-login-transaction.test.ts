/**
 * The gate's transactions (first login, a known user's token, auto mode's
 * link) as write transactions, on SQLite and PostgreSQL, with the Gate built
 * directly on a migrated database: on SQLite they run as prepared statements
 * in a savepoint of the group commit (one group commit each, counted by
 * commitCount), on PostgreSQL as knex transactions. Either way a first login
 * leaves the same rows (user, user_idp, the link, one use, the audit), a
 * refusal leaves none of them, and racing first logins count exactly. On
 * SQLite the repository functions' SqliteTx branches answer as their knex
 * queries do.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Audit } from '../../src/audit/audit.ts';
import { closeDatabase } from '../../src/db/flavor.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import * as acl from '../../src/db/repos/acl-tokens.ts';
import * as joins from '../../src/db/repos/join-requests.ts';
import * as users from '../../src/db/repos/users.ts';
import { commitCount, writeTransaction } from '../../src/db/sqlite-statements.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { Gate, type GateMode } from '../../src/gating/access.ts';
import { AclTokens } from '../../src/gating/acl-tokens.ts';
import type { Identity } from '../../src/identity/identity.ts';
import { Passwords } from '../../src/identity/passwords.ts';
import { Users } from '../../src/identity/users.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';

const client = { id: 'web', name: 'Web App' };
let serial = 0;

function newcomer(over: Partial<Identity> = {}): Identity {
  serial += 1;
  return { connectorId: 'local', subject: `acct-${serial}`, email: `Newcomer${serial}@Example.com`, emailVerified: true, name: `Newcomer ${serial}`, ...over };
}

describe.each(databaseKinds)("the gate's write transactions on %s", (kind) => {
  let database: TestDatabase;
  let db: Db;
  let skew = 0;
  const clock: Clock = { now: () => Date.UTC(2026, 11, 2, 6) + skew };
  const audit = new Audit(clock);
  const decided: string[] = [];
  let aclTokens: AclTokens;
  let gates: Record<GateMode, Gate>;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createKnex(database.config);
    await migrateLatest(db);
    const people = new Users(db, clock, audit, new Passwords({ queue: 10 }), 'local');
    aclTokens = new AclTokens(db, clock, audit, (id) => Promise.resolve(id === 'web' || id === 'other'));
    const metrics = { gateDecided: (result: string, reason: string) => void decided.push(`${result}:${reason}`) };
    const gate = (mode: GateMode) => new Gate(mode, db, clock, audit, metrics, people, aclTokens);
    gates = { open: gate('open'), auto: gate('auto'), manual: gate('manual') };
  });
  afterAll(async () => {
    await closeDatabase(db);
    await database?.drop();
  });

  /** What a first login left behind for an identity: its user, identities, links, audit. */
  async function rowsOf(identity: Identity) {
    const link = await db('user_idp').where({ connector_id: identity.connectorId, subject: identity.subject }).first();
    const userId = link?.user_id as string | undefined;
    const actor = `${identity.connectorId}:${identity.subject}`;
    return {
      users: userId ? await db('user').where({ id: userId }) : [],
      idps: userId ? await db('user_idp').where({ user_id: userId }) : [],
      links: userId ? await db('user_acl_token').where({ user_id: userId }) : [],
      audit: (await db('audit_log').where({ actor }).orderBy('id')).map((r: { action: string; subject: string | null; details: string | null }) => ({
        action: r.action,
        subject: r.subject,
        details: r.details === null ? null : (JSON.parse(r.details) as unknown),
      })),
    };
  }

  /** An approved, unredeemed join request of an identity for web. */
  function approvedRequest(id: string, who: Identity, aclTokenId: string): joins.JoinRequestRow {
    return {
      id,
      kind: 'join',
      connector_id: who.connectorId,
      subject: who.subject,
      user_id: null,
      email: who.email!,
      name: null,
      message: null,
      client_id: 'web',
      status: 'approved',
      decided_by: 'boss@example.com',
      decided_at: clock.now(),
      acl_token_id: aclTokenId,
      redeemed_at: null,
      created_at: clock.now(),
      decision_note: null,
    };
  }

  const usesOf = async (id: string) => Number((await db('acl_token').where({ id }).first('uses')).uses);
  /** Group commits made by the SQLite fast path during `work` (always 0 on PostgreSQL). */
  async function commitsDuring<T>(work: () => Promise<T>): Promise<{ result: T; commits: number }> {
    const before = commitCount(db);
    const result = await work();
    return { result, commits: commitCount(db) - before };
  }

  it('a first login with an invitation: user, user_idp, the link, one use and the audit, in one group commit on SQLite', async () => {
    const { row, token } = await aclTokens.create({ maxUsers: 3, clients: ['web'] }, 'test');
    const who = newcomer();
    const now = clock.now();
    const { result: user, commits } = await commitsDuring(() => gates.manual.admitFirstLogin(who, client, token));
    expect(commits).toBe(kind === 'sqlite' ? 1 : 0);
    expect(user).toEqual({
      id: user.id,
      email: who.email!.toLowerCase(),
      email_verified: true,
      name: who.name,
      status: 'active',
      created_at: now,
      last_login_at: now,
    });
    const rows = await rowsOf(who);
    expect(
      rows.users.map((u: users.UserRow) => ({
        ...u,
        email_verified: Boolean(u.email_verified),
        created_at: Number(u.created_at),
        last_login_at: Number(u.last_login_at),
      })),
    ).toEqual([user]);
    expect(rows.idps.map((i: users.UserIdpRow) => ({ ...i, created_at: Number(i.created_at) }))).toEqual([
      { connector_id: 'local', subject: who.subject, user_id: user.id, email: user.email, created_at: now },
    ]);
    expect(rows.links.map((l: { user_id: string; acl_token_id: string; created_at: number }) => ({ ...l, created_at: Number(l.created_at) }))).toEqual([
      { user_id: user.id, acl_token_id: row.id, created_at: now },
    ]);
    expect(await usesOf(row.id)).toBe(1);
    expect(rows.audit).toEqual([
      { action: 'user.created', subject: user.id, details: { connector: 'local', email: user.email } },
      { action: 'gate.allowed', subject: 'web', details: { aclToken: row.id, user: user.id } },
    ]);
    expect(decided.at(-1)).toBe('allowed:first_login_token');
    // The next login of the same identity through the same transaction finds the user and records the login.
    skew += 1000;
    const again = await gates.manual.admitFirstLogin(who, client, token);
    expect(again).toMatchObject({ id: user.id, last_login_at: clock.now() });
    expect(Number((await db('user').where({ id: user.id }).first()).last_login_at)).toBe(clock.now());
    expect(await usesOf(row.id)).toBe(1);
  });

  it('a used-up invitation refuses, and a use lost after the user was written leaves no half-written user', async () => {
    const { row, token } = await aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    await gates.manual.admitFirstLogin(newcomer(), client, token);
    const late = newcomer();
    await expect(gates.manual.admitFirstLogin(late, client, token)).rejects.toMatchObject({ code: 'acl_token.exhausted' });
    expect(await rowsOf(late)).toEqual({
      users: [],
      idps: [],
      links: [],
      audit: [{ action: 'gate.refused', subject: 'web', details: { reason: 'acl_token.exhausted' } }],
    });
    expect(await usesOf(row.id)).toBe(1);

    // The invitation lapses between the check and the use (the clock moves inside the check): redeem's conditional UPDATE refuses after the user went in.
    const lapsing = await aclTokens.create({ maxUsers: 5, clients: ['web'], expiresAt: clock.now() + 60_000 }, 'test');
    const check = aclTokens.check.bind(aclTokens);
    const spy = vi.spyOn(aclTokens, 'check').mockImplementation(async (...args) => {
      const checked = await check(...args);
      skew += 120_000;
      return checked;
    });
    const unlucky = newcomer();
    try {
      await expect(gates.manual.admitFirstLogin(unlucky, client, lapsing.token)).rejects.toMatchObject({ code: 'acl_token.exhausted' });
    } finally {
      spy.mockRestore();
    }
    expect(await rowsOf(unlucky)).toEqual({
      users: [],
      idps: [],
      links: [],
      audit: [{ action: 'gate.refused', subject: 'web', details: { reason: 'acl_token.exhausted' } }],
    });
    expect(await db('user').where({ email: unlucky.email!.toLowerCase() })).toEqual([]);
    expect(await usesOf(lapsing.row.id)).toBe(0);
    expect(decided.at(-1)).toBe('refused:exhausted');
  });

  it('30 first logins at once on an invitation for 5: exactly 5 get in, each counted once', async () => {
    const { row, token } = await aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    const people = Array.from({ length: 30 }, () => newcomer());
    const settled = await Promise.allSettled(people.map((who) => gates.manual.admitFirstLogin(who, client, token)));
    const admitted = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as { code?: string }).code] : []));
    expect(admitted).toHaveLength(5);
    expect(refused).toEqual(Array.from({ length: 25 }, () => 'acl_token.exhausted'));
    expect(await usesOf(row.id)).toBe(5);
    expect(await db('user_acl_token').where({ acl_token_id: row.id })).toHaveLength(5);
    const made = await db('user_idp').whereIn(
      'subject',
      people.map((p) => p.subject),
    );
    expect(made).toHaveLength(5);
  });

  it('two first logins of one identity at once make one user and count one use', async () => {
    const { row, token } = await aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    const who = newcomer();
    const settled = await Promise.allSettled([gates.manual.admitFirstLogin(who, client, token), gates.manual.admitFirstLogin(who, client, token)]);
    const ids = new Set(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.id] : [])));
    // SQLite: the savepoints take turns and the second finds the user; PostgreSQL: the second may instead fail on user_idp's unique key.
    for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'already_exists' });
    expect(ids.size).toBe(1);
    if (kind === 'sqlite') expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
    const rows = await rowsOf(who);
    expect(rows.users).toHaveLength(1);
    expect(rows.links).toHaveLength(1);
    expect(await usesOf(row.id)).toBe(1);
  });

  it('a first login approved by join request: the personal token is redeemed once, the request marked', async () => {
    const who = newcomer();
    const personal = await aclTokens.create({ maxUsers: 1, clients: ['web'], kind: 'personal' }, 'test');
    const id = `jr-${serial}`;
    await joins.insertJoinRequest(db, approvedRequest(id, who, personal.row.id));
    const { result: user, commits } = await commitsDuring(() => gates.manual.admitFirstLogin(who, client));
    expect(commits).toBe(kind === 'sqlite' ? 1 : 0);
    expect(Number((await joins.findJoinRequest(db, id))!.redeemed_at)).toBe(clock.now());
    expect((await rowsOf(who)).links.map((l: { acl_token_id: string }) => l.acl_token_id)).toEqual([personal.row.id]);
    expect(await usesOf(personal.row.id)).toBe(1);
    // Without a token or an approval: refused, nothing written.
    const stranger = newcomer();
    await expect(gates.manual.admitFirstLogin(stranger, client)).rejects.toMatchObject({ code: 'access.token_required' });
    expect((await rowsOf(stranger)).users).toEqual([]);
    expect(user.id).toBeTruthy();
  });

  it('open and auto mode first logins, a known user presenting a token, and auto mode linking a user at its first authorization', async () => {
    const open = newcomer();
    const opened = await gates.open.admitFirstLogin(open, client);
    expect((await rowsOf(open)).links).toEqual([]);
    expect((await rowsOf(open)).audit.map((a) => a.action)).toEqual(['user.created']);

    await gates.auto.ensureGlobalToken(['web']);
    const [global] = await acl.findAclTokensByKind(db, 'global');
    const usesBefore = await usesOf(global!.id);
    const auto = newcomer();
    const { commits } = await commitsDuring(() => gates.auto.admitFirstLogin(auto, client));
    expect(commits).toBe(kind === 'sqlite' ? 1 : 0);
    expect((await rowsOf(auto)).links.map((l: { acl_token_id: string }) => l.acl_token_id)).toEqual([global!.id]);
    expect(await usesOf(global!.id)).toBe(usesBefore + 1);

    // The user made in open mode has no link: auto mode links it once, however many authorizations race.
    const linked = await Promise.all(Array.from({ length: 5 }, () => gates.auto.hasAccess(opened.id, 'web')));
    expect(linked).toEqual([true, true, true, true, true]);
    expect(await usesOf(global!.id)).toBe(usesBefore + 2);
    expect(await db('user_acl_token').where({ user_id: opened.id })).toHaveLength(1);

    // A known user presents an invitation for another client.
    const other = await aclTokens.create({ maxUsers: 2, clients: ['other'] }, 'test');
    const { commits: known } = await commitsDuring(() => gates.manual.admitKnownUser(opened.id, { id: 'other', name: 'Other' }, other.token));
    expect(known).toBe(kind === 'sqlite' ? 1 : 0);
    expect(await usesOf(other.row.id)).toBe(1);
    expect(await gates.manual.hasAccess(opened.id, 'other')).toBe(true);
    // Again: it has access now, nothing more is counted.
    await gates.manual.admitKnownUser(opened.id, { id: 'other', name: 'Other' }, other.token);
    expect(await usesOf(other.row.id)).toBe(1);
  });

  it.runIf(kind === 'sqlite')("the repositories' SqliteTx branches answer as their knex queries", async () => {
    const { row, token } = await aclTokens.create({ maxUsers: 4, clients: ['web', 'other'], expiresAt: clock.now() + 86_400_000 }, 'test');
    const who = newcomer();
    const user = await gates.manual.admitFirstLogin(who, client, token);
    const now = clock.now();
    const waiting = newcomer();
    await joins.insertJoinRequest(db, approvedRequest(`jr-${serial}-a`, waiting, row.id));
    await joins.insertJoinRequest(db, approvedRequest(`jr-${serial}-b`, waiting, row.id));
    const reads = async (on: Parameters<typeof acl.findAclToken>[0]) => ({
      token: await acl.findAclToken(on, row.id),
      byHash: await acl.findAclTokenByHash(on, row.token_hash),
      clientTokens: await acl.clientTokensOfAclToken(on, row.id),
      access: await acl.userAccessToClient(on, user.id, 'web', now),
      noAccess: await acl.userAccessToClient(on, user.id, 'nowhere', now),
      user: await users.findUser(on, user.id),
      idp: await users.findUserIdp(on, who.connectorId, who.subject),
      idps: await users.listUserIdps(on, user.id),
      approved: await joins.findApprovedUnredeemed(on, waiting.connectorId, waiting.subject, 'web'),
    });
    const viaKnex = await withTransaction(db, (trx) => reads(trx));
    const viaTx = await writeTransaction(db, (tx) => reads(tx));
    expect(viaTx).toEqual(viaKnex);
    expect(viaTx.token).toMatchObject({ id: row.id, uses: 1 });
    expect(viaTx.clientTokens.map((c) => c.client_id)).toEqual(['other', 'web']);
    expect(viaTx.approved.map((r) => r.id)).toEqual([`jr-${serial}-a`, `jr-${serial}-b`]);
    expect(await writeTransaction(db, (tx) => joins.markJoinRequestRedeemed(tx, `jr-${serial}-a`, now))).toBe(true);
    expect(await writeTransaction(db, (tx) => joins.markJoinRequestRedeemed(tx, `jr-${serial}-a`, now))).toBe(false);
    expect((await joins.findApprovedUnredeemed(db, waiting.connectorId, waiting.subject, 'web')).map((r) => r.id)).toEqual([`jr-${serial}-b`]);

    // The writes: the same conditional UPDATEs and ignored duplicates.
    const taken = await writeTransaction(db, async (tx) => [
      await acl.incrementAclTokenUses(tx, row.id, now),
      await acl.linkUserToAclTokenOnce(tx, user.id, row.id, now),
      await users.updateUser(tx, user.id, { name: 'Renamed', email_verified: false }),
    ]);
    expect(taken).toEqual([true, false, true]);
    expect(await users.findUser(db, user.id)).toMatchObject({ name: 'Renamed', email_verified: false });
    expect(await writeTransaction(db, (tx) => acl.incrementAclTokenUses(tx, row.id, now + 2 * 86_400_000))).toBe(false);
    await writeTransaction(db, async (tx) => {
      await acl.incrementAclTokenUses(tx, row.id, now);
      await acl.incrementAclTokenUses(tx, row.id, now);
    });
    expect(await usesOf(row.id)).toBe(4);
    expect(await writeTransaction(db, (tx) => acl.incrementAclTokenUses(tx, row.id, now))).toBe(false);
    await expect(writeTransaction(db, (tx) => users.insertUserIdp(tx, { ...viaTx.idp! }))).rejects.toMatchObject({ code: 'already_exists' });
  });
});
