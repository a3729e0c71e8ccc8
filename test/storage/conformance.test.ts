/**
 * Repository conformance (Dex's storage/conformance): every function in
 * src/db/repos/ called directly on a freshly migrated database, the same suite
 * on SQLite and PostgreSQL. Conditional takes are raced by parallel callers and
 * must hand out exactly what is left; unique violations leave as
 * `already_exists`; the flavour's locks make count-then-write decisions hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { lockForCounting, lockForStartup } from '../../src/db/flavor.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import * as acl from '../../src/db/repos/acl-tokens.ts';
import { appendAudit, listAudit } from '../../src/db/repos/audit-log.ts';
import { clientPayloadsWithWebOrigins } from '../../src/db/repos/client-web-origins.ts';
import * as devices from '../../src/db/repos/device-tokens.ts';
import * as joins from '../../src/db/repos/join-requests.ts';
import * as keys from '../../src/db/repos/keys.ts';
import * as mail from '../../src/db/repos/mail-outbox.ts';
import * as models from '../../src/db/repos/oidc-models.ts';
import * as reg from '../../src/db/repos/registration.ts';
import * as users from '../../src/db/repos/users.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';

const now = Date.UTC(2026, 11, 1);
const parallel = 20;
let serial = 0;
const uniq = (prefix: string) => `${prefix}-${++serial}`;

/** How many of `n` parallel calls came back true. */
async function winners(n: number, call: () => Promise<boolean>): Promise<number> {
  return (await Promise.all(Array.from({ length: n }, call))).filter(Boolean).length;
}

const alreadyExists = { code: 'already_exists' };

function aclTokenRow(over: Partial<acl.AclTokenRow> = {}): acl.AclTokenRow {
  const id = uniq('acl');
  return {
    id,
    token_hash: `h-${id}`,
    description: null,
    max_users: 0,
    uses: 0,
    kind: 'invitation',
    expires_at: null,
    revoked_at: null,
    created_by: 'test',
    created_at: now,
    ...over,
  };
}
function clientTokenRow(clientId: string, over: Partial<acl.ClientTokenRow> = {}): acl.ClientTokenRow {
  const id = uniq('ct');
  return { id, token_hash: `h-${id}`, client_id: clientId, expires_at: null, revoked_at: null, created_by: 'test', created_at: now, ...over };
}
function userRow(over: Partial<users.UserRow> = {}): users.UserRow {
  const id = uniq('user');
  return { id, email: `${id}@example.org`, email_verified: false, name: null, status: 'active', created_at: now, last_login_at: null, ...over };
}
function joinRequestRow(over: Partial<joins.JoinRequestRow> = {}): joins.JoinRequestRow {
  const id = uniq('jr');
  return {
    id,
    kind: 'join',
    connector_id: 'local',
    subject: `sub-${id}`,
    user_id: null,
    email: `${id}@example.org`,
    name: null,
    message: null,
    client_id: 'app',
    status: 'pending',
    decided_by: null,
    decided_at: null,
    acl_token_id: null,
    redeemed_at: null,
    created_at: now,
    decision_note: null,
    ...over,
  };
}
function registrationTokenRow(over: Partial<reg.RegistrationTokenRow> = {}): reg.RegistrationTokenRow {
  const id = uniq('rt');
  return {
    id,
    token_hash: `h-${id}`,
    description: null,
    max_clients: 1,
    uses: 0,
    template: null,
    approval: false,
    acl_token_id: null,
    expires_at: null,
    revoked_at: null,
    created_by: 'test',
    created_at: now,
    ...over,
  };
}
function registeredClientRow(over: Partial<reg.RegisteredClientRow> = {}): reg.RegisteredClientRow {
  return {
    client_id: uniq('client'),
    registration_token_id: null,
    via: 'rfc7591',
    kind: 'application',
    disabled_reason: null,
    disabled_at: null,
    created_at: now,
    ...over,
  };
}
function deviceTokenRow(over: Partial<devices.DeviceTokenRow> = {}): devices.DeviceTokenRow {
  return {
    id: uniq('dt'),
    description: null,
    max_devices: 1,
    uses: 0,
    client_template: null,
    expires_at: now + 3_600_000,
    revoked_at: null,
    created_by: 'test',
    created_at: now,
    ...over,
  };
}
function modelRow(kind: string, over: Partial<models.OidcModelRow> = {}): models.OidcModelRow {
  return models.modelRow(kind, uniq(kind), '{}', over);
}

describe.each(databaseKinds)('repositories on %s', (kind) => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = createKnex(database.config);
    await migrateLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  describe('users', () => {
    it('inserts, finds, lists, counts, updates and deletes users', async () => {
      const before = await users.countUsers(db);
      const user = userRow({ email: 'mixed@example.org', email_verified: true });
      await users.insertUser(db, user);
      expect(await users.findUser(db, user.id)).toEqual(user);
      expect(await users.findUsersByEmail(db, 'MIXED@example.org')).toEqual([user]);
      expect((await users.listUsers(db)).map((u) => u.id)).toContain(user.id);
      expect(await users.countUsers(db)).toBe(before + 1);
      expect(await users.updateUser(db, user.id, { name: 'Ada', last_login_at: now + 1 })).toBe(true);
      expect(await users.findUser(db, user.id)).toMatchObject({ name: 'Ada', last_login_at: now + 1, email_verified: true });
      expect(await users.updateUser(db, 'nobody', { name: 'x' })).toBe(false);
      expect(await users.deleteUser(db, user.id)).toBe(true);
      expect(await users.deleteUser(db, user.id)).toBe(false);
      expect(await users.findUser(db, user.id)).toBeUndefined();
    });

    it('links upstream identities to a user, and drops them with the user', async () => {
      const user = userRow();
      await users.insertUser(db, user);
      const idp = { connector_id: 'upstream', subject: uniq('sub'), user_id: user.id, email: null, created_at: now };
      await users.insertUserIdp(db, idp);
      expect(await users.findUserIdp(db, 'upstream', idp.subject)).toEqual(idp);
      expect(await users.listUserIdps(db, user.id)).toEqual([idp]);
      await users.deleteUser(db, user.id);
      expect(await users.findUserIdp(db, 'upstream', idp.subject)).toBeUndefined();
    });

    it('keeps local accounts and uses a verification link once, even when raced', async () => {
      const account = {
        id: uniq('la'),
        email: `${uniq('local')}@example.org`,
        name: null,
        password_hash: 'argon2id$x',
        email_verified_at: null,
        created_at: now,
      };
      await users.insertLocalAccount(db, account);
      expect(await users.findLocalAccount(db, account.id)).toEqual(account);
      expect(await users.findLocalAccountByEmail(db, account.email.toUpperCase())).toEqual(account);
      await users.updateLocalAccount(db, account.id, { email_verified_at: now });
      expect(await users.findLocalAccount(db, account.id)).toMatchObject({ email_verified_at: now });

      await users.insertEmailVerification(db, { token_hash: 'expired-link', local_account_id: account.id, expires_at: now });
      expect(await users.findEmailVerification(db, 'expired-link', now)).toBeUndefined();
      await users.insertEmailVerification(db, { token_hash: 'fresh-link', local_account_id: account.id, expires_at: now + 60_000 });
      expect(await users.findEmailVerification(db, 'fresh-link', now)).toBe(account.id);
      const used = await Promise.all(Array.from({ length: parallel }, () => users.useEmailVerification(db, 'fresh-link', now)));
      expect(used.filter((id) => id === account.id)).toHaveLength(1);
      expect(await users.findEmailVerification(db, 'fresh-link', now)).toBeUndefined();

      await users.deleteLocalAccount(db, account.id);
      expect(await users.findLocalAccount(db, account.id)).toBeUndefined();
    });

    it('reports a second user, identity, account or link under the same key as already_exists', async () => {
      const user = userRow();
      await users.insertUser(db, user);
      await expect(users.insertUser(db, { ...user, email: 'other@example.org' })).rejects.toMatchObject(alreadyExists);
      const idp = { connector_id: 'upstream', subject: uniq('sub'), user_id: user.id, email: null, created_at: now };
      await users.insertUserIdp(db, idp);
      await expect(users.insertUserIdp(db, idp)).rejects.toMatchObject(alreadyExists);
      const account = { id: uniq('la'), email: `${uniq('dup')}@example.org`, name: null, password_hash: 'h', email_verified_at: null, created_at: now };
      await users.insertLocalAccount(db, account);
      await expect(users.insertLocalAccount(db, { ...account, id: uniq('la') })).rejects.toMatchObject(alreadyExists);
      await users.insertEmailVerification(db, { token_hash: 'dup-link', local_account_id: account.id, expires_at: now });
      await expect(users.insertEmailVerification(db, { token_hash: 'dup-link', local_account_id: account.id, expires_at: now })).rejects.toMatchObject(
        alreadyExists,
      );
    });
  });

  describe('ACL and client tokens', () => {
    it('finds, lists and revokes ACL tokens once', async () => {
      const token = aclTokenRow({ kind: 'personal', max_users: 3 });
      await acl.insertAclToken(db, token);
      expect(await acl.findAclToken(db, token.id)).toEqual(token);
      expect(await acl.findAclTokenByHash(db, token.token_hash)).toEqual(token);
      expect((await acl.findAclTokensByKind(db, 'personal')).map((t) => t.id)).toContain(token.id);
      expect((await acl.listAclTokens(db)).map((t) => t.id)).toContain(token.id);
      expect(await winners(parallel, () => acl.revokeAclToken(db, token.id, now))).toBe(1);
      expect(await acl.findAclToken(db, token.id)).toMatchObject({ revoked_at: now });
    });

    it('hands out exactly max_users uses when 20 callers race, and none from a revoked or expired token', async () => {
      const token = aclTokenRow({ max_users: 5 });
      await acl.insertAclToken(db, token);
      expect(await winners(parallel, () => acl.incrementAclTokenUses(db, token.id, now))).toBe(5);
      expect(await acl.findAclToken(db, token.id)).toMatchObject({ uses: 5 });

      const unlimited = aclTokenRow({ max_users: 0 });
      await acl.insertAclToken(db, unlimited);
      expect(await winners(parallel, () => acl.incrementAclTokenUses(db, unlimited.id, now))).toBe(parallel);

      const expired = aclTokenRow({ max_users: 5, expires_at: now });
      const revoked = aclTokenRow({ max_users: 5, revoked_at: now });
      await acl.insertAclToken(db, expired);
      await acl.insertAclToken(db, revoked);
      expect(await acl.incrementAclTokenUses(db, expired.id, now)).toBe(false);
      expect(await acl.incrementAclTokenUses(db, revoked.id, now)).toBe(false);
    });

    it('takes exactly max_users uses inside transactions too (the way redeeming runs)', async () => {
      const token = aclTokenRow({ max_users: 3 });
      await acl.insertAclToken(db, token);
      expect(await winners(parallel, () => withTransaction(db, (trx) => acl.incrementAclTokenUses(trx, token.id, now)))).toBe(3);
    });

    it('links client tokens and users, and answers the access query by the client token’s expiry', async () => {
      const token = aclTokenRow();
      await acl.insertAclToken(db, token);
      const forever = clientTokenRow('app-a');
      const later = clientTokenRow('app-b', { expires_at: now + 1000 });
      const sooner = clientTokenRow('app-b', { expires_at: now + 500 });
      const lapsed = clientTokenRow('app-c', { expires_at: now });
      for (const ct of [forever, later, sooner, lapsed]) {
        await acl.insertClientToken(db, ct);
        await acl.linkAclTokenToClientToken(db, token.id, ct.id);
      }
      await acl.linkAclTokenToClientToken(db, token.id, forever.id);
      expect(await acl.findClientToken(db, forever.id)).toEqual(forever);
      expect((await acl.listClientTokens(db)).map((c) => c.id)).toEqual(expect.arrayContaining([forever.id, later.id]));
      expect((await acl.clientTokensOfAclToken(db, token.id)).map((c) => c.client_id)).toEqual(['app-a', 'app-b', 'app-b', 'app-c']);

      const user = userRow();
      await users.insertUser(db, user);
      expect(await acl.userAccessToClient(db, user.id, 'app-a', now)).toBeUndefined();
      await acl.linkUserToAclToken(db, user.id, token.id, now);
      await acl.linkUserToAclToken(db, user.id, token.id, now);
      expect(await acl.usersOfAclToken(db, token.id)).toEqual([user.id]);
      expect((await acl.aclTokensOfUser(db, user.id)).map((t) => t.id)).toEqual([token.id]);
      expect(await acl.userAccessToClient(db, user.id, 'app-a', now)).toEqual({ expiresAt: null });
      expect(await acl.userAccessToClient(db, user.id, 'app-b', now)).toEqual({ expiresAt: now + 1000 });
      expect(await acl.userAccessToClient(db, user.id, 'app-c', now)).toBeUndefined();
      expect(await acl.userAccessList(db, user.id, now)).toEqual([
        { client_id: 'app-a', acl_token_id: token.id, expires_at: null },
        { client_id: 'app-b', acl_token_id: token.id, expires_at: now + 1000 },
        { client_id: 'app-b', acl_token_id: token.id, expires_at: now + 500 },
      ]);

      expect(await winners(parallel, () => acl.revokeClientToken(db, forever.id, now))).toBe(1);
      expect(await acl.userAccessToClient(db, user.id, 'app-a', now)).toBeUndefined();
      await acl.deleteClientTokensOfClient(db, 'app-b');
      expect(await acl.userAccessToClient(db, user.id, 'app-b', now)).toBeUndefined();
      expect((await acl.clientTokensOfAclToken(db, token.id)).map((c) => c.client_id)).toEqual(['app-a', 'app-c']);
    });

    it('links a user to a token once when 20 callers race: one of them is told it won', async () => {
      const token = aclTokenRow();
      await acl.insertAclToken(db, token);
      const user = userRow();
      await users.insertUser(db, user);
      expect(await winners(parallel, () => acl.linkUserToAclTokenOnce(db, user.id, token.id, now))).toBe(1);
      expect(await acl.usersOfAclToken(db, token.id)).toEqual([user.id]);
    });

    it('reports a second token with the same id or hash as already_exists', async () => {
      const token = aclTokenRow();
      await acl.insertAclToken(db, token);
      await expect(acl.insertAclToken(db, { ...token, token_hash: 'other' })).rejects.toMatchObject(alreadyExists);
      await expect(acl.insertAclToken(db, { ...token, id: uniq('acl') })).rejects.toMatchObject(alreadyExists);
      const ct = clientTokenRow('app');
      await acl.insertClientToken(db, ct);
      await expect(acl.insertClientToken(db, { ...ct, id: uniq('ct') })).rejects.toMatchObject(alreadyExists);
    });
  });

  describe('join requests', () => {
    it('decides a request once when 20 deciders race, and never again from a final state', async () => {
      const request = joinRequestRow();
      await joins.insertJoinRequest(db, request);
      expect(await joins.findJoinRequest(db, request.id)).toEqual(request);
      expect(await joins.findPendingJoinRequest(db, 'local', request.subject, 'app')).toEqual(request);
      expect((await joins.listJoinRequests(db, 'pending')).map((r) => r.id)).toContain(request.id);
      const token = aclTokenRow();
      await acl.insertAclToken(db, token);
      expect(
        await winners(parallel, () =>
          joins.decideJoinRequest(db, request.id, { status: 'approved', decided_by: 'admin@example.org', decided_at: now, acl_token_id: token.id }),
        ),
      ).toBe(1);
      expect(await joins.decideJoinRequest(db, request.id, { status: 'denied', decided_by: 'other', decided_at: now })).toBe(false);
      expect(await joins.findPendingJoinRequest(db, 'local', request.subject, 'app')).toBeUndefined();
      expect((await joins.listJoinRequests(db)).map((r) => r.id)).toContain(request.id);
      expect((await joins.listJoinRequests(db, 'pending')).map((r) => r.id)).not.toContain(request.id);

      expect((await joins.findApprovedUnredeemed(db, 'local', request.subject, 'app')).map((r) => r.id)).toEqual([request.id]);
      expect(await winners(parallel, () => joins.markJoinRequestRedeemed(db, request.id, now))).toBe(1);
      expect(await joins.findApprovedUnredeemed(db, 'local', request.subject, 'app')).toEqual([]);
    });

    it('uses an approval link once when 20 callers race, and not after it expired', async () => {
      const request = joinRequestRow();
      await joins.insertJoinRequest(db, request);
      const link = {
        token_hash: uniq('al'),
        join_request_id: request.id,
        action: 'approve' as const,
        approver: 'admin@example.org',
        expires_at: now + 1000,
        used_at: null,
      };
      await joins.insertApprovalLink(db, link);
      expect(await joins.findApprovalLink(db, link.token_hash)).toEqual(link);
      expect(await winners(parallel, () => joins.useApprovalLink(db, link.token_hash, now))).toBe(1);
      const late = { ...link, token_hash: uniq('al') };
      await joins.insertApprovalLink(db, late);
      expect(await joins.useApprovalLink(db, late.token_hash, now + 1000)).toBe(false);
      await expect(joins.insertApprovalLink(db, link)).rejects.toMatchObject(alreadyExists);
      await expect(joins.insertJoinRequest(db, request)).rejects.toMatchObject(alreadyExists);
    });

    it('keeps a pending identity until it expires, replacing it on a second write', async () => {
      const identity = {
        interaction_uid: uniq('uid'),
        connector_id: 'upstream',
        subject: 's',
        email: null,
        email_verified: false,
        name: null,
        expires_at: now + 1000,
      };
      await joins.upsertPendingIdentity(db, identity);
      await joins.upsertPendingIdentity(db, { ...identity, email: 'a@example.org', email_verified: true });
      expect(await joins.findPendingIdentity(db, identity.interaction_uid, now)).toEqual({ ...identity, email: 'a@example.org', email_verified: true });
      expect(await joins.findPendingIdentity(db, identity.interaction_uid, now + 1000)).toBeUndefined();
      await joins.deletePendingIdentity(db, identity.interaction_uid);
      expect(await joins.findPendingIdentity(db, identity.interaction_uid, now)).toBeUndefined();
    });
  });

  describe('registration tokens and registered clients', () => {
    it('hands out exactly max_clients uses when 20 callers race, gives uses back, and none from a revoked or expired token', async () => {
      const token = registrationTokenRow({ max_clients: 4 });
      await reg.insertRegistrationToken(db, token);
      expect(await reg.findRegistrationToken(db, token.id)).toMatchObject({ ...token, approval: expect.anything() });
      expect(await reg.findRegistrationTokenByHash(db, token.token_hash)).toMatchObject({ id: token.id });
      expect((await reg.listRegistrationTokens(db)).map((t) => t.id)).toContain(token.id);
      expect(await winners(parallel, () => reg.takeRegistrationTokenUse(db, token.id, now))).toBe(4);
      await reg.returnRegistrationTokenUse(db, token.id);
      expect(await winners(parallel, () => reg.takeRegistrationTokenUse(db, token.id, now))).toBe(1);

      const fresh = registrationTokenRow();
      await reg.insertRegistrationToken(db, fresh);
      await reg.returnRegistrationTokenUse(db, fresh.id);
      expect(await reg.findRegistrationToken(db, fresh.id)).toMatchObject({ uses: 0 });
      expect(await winners(parallel, () => reg.revokeRegistrationToken(db, fresh.id, now))).toBe(1);
      expect(await reg.takeRegistrationTokenUse(db, fresh.id, now)).toBe(false);
      const expired = registrationTokenRow({ expires_at: now });
      await reg.insertRegistrationToken(db, expired);
      expect(await reg.takeRegistrationTokenUse(db, expired.id, now)).toBe(false);
      await expect(reg.insertRegistrationToken(db, { ...expired, id: uniq('rt') })).rejects.toMatchObject(alreadyExists);
    });

    it('settles a reservation once: stored or dropped, by one of 20 racing callers', async () => {
      const stored = registeredClientRow({ state: 'reserved' });
      const dropped = registeredClientRow({ state: 'reserved', created_at: now - 120_000 });
      await reg.insertRegisteredClient(db, stored);
      await reg.insertRegisteredClient(db, dropped);
      expect((await reg.listStaleReservations(db, now - 60_000)).map((r) => r.client_id)).toEqual([dropped.client_id]);
      expect(await winners(parallel, () => reg.markReservationStored(db, stored.client_id))).toBe(1);
      expect(await reg.deleteReservation(db, stored.client_id)).toBe(false);
      expect(await winners(parallel, () => reg.deleteReservation(db, dropped.client_id))).toBe(1);
      expect(await reg.findRegisteredClient(db, dropped.client_id)).toBeUndefined();
      expect(await reg.findRegisteredClient(db, stored.client_id)).toMatchObject({ state: 'stored' });
    });

    it('lists clients whose metadata exists, counts all but revoked devices, and holds, enables and deletes them', async () => {
      const before = await reg.countRegisteredClients(db);
      const app = registeredClientRow();
      const device = registeredClientRow({ kind: 'device', via: 'jwt', manufacturer_id: uniq('mfr') });
      const noMetadata = registeredClientRow();
      for (const row of [app, device, noMetadata]) await reg.insertRegisteredClient(db, row);
      await models.upsertModel(db, modelRow('Client', { id: app.client_id }));
      await models.upsertModel(db, modelRow('Client', { id: device.client_id }));
      expect(await reg.findRegisteredClient(db, app.client_id)).toMatchObject({ ...app, state: 'stored' });
      const listed = (await reg.listRegisteredClients(db)).map((r) => r.client_id);
      expect(listed).toEqual(expect.arrayContaining([app.client_id, device.client_id]));
      expect(listed).not.toContain(noMetadata.client_id);
      expect((await reg.listRegisteredClients(db, 'device')).map((r) => r.client_id)).toContain(device.client_id);
      expect((await reg.listRegisteredClients(db, 'device')).map((r) => r.client_id)).not.toContain(app.client_id);
      expect(await reg.countRegisteredClients(db)).toBe(before + 3);

      expect(await reg.setClientDisabled(db, app.client_id, 'approval', now)).toBe(true);
      expect(await reg.findRegisteredClient(db, app.client_id)).toMatchObject({ disabled_reason: 'approval', disabled_at: now });
      expect(await reg.setClientDisabled(db, app.client_id, null, now)).toBe(true);
      expect(await reg.findRegisteredClient(db, app.client_id)).toMatchObject({ disabled_reason: null, disabled_at: null });
      expect(await reg.setClientDisabled(db, 'nobody', 'admin', now)).toBe(false);
      await reg.setClientDisabled(db, device.client_id, 'revoked', now);
      expect(await reg.countRegisteredClients(db)).toBe(before + 2);
      // The count is a row the triggers keep: it follows deletes and a revoked client coming back, as a real count would.
      await reg.deleteRegisteredClient(db, noMetadata.client_id);
      expect(await reg.countRegisteredClients(db)).toBe(before + 1);
      await reg.setClientDisabled(db, device.client_id, null, now);
      expect(await reg.countRegisteredClients(db)).toBe(before + 2);
      const [real] = await db('registered_client')
        .whereNot('disabled_reason', 'revoked')
        .orWhereNull('disabled_reason')
        .count<{ n: number | string }[]>({ n: '*' });
      expect(await reg.countRegisteredClients(db)).toBe(Number(real?.n));
      await reg.setClientDisabled(db, device.client_id, 'revoked', now);
      expect(await reg.findRegisteredClientByManufacturerId(db, device.manufacturer_id!)).toMatchObject({ client_id: device.client_id });

      // Written only when the stored time is a minute old or more (instances together write it once a minute).
      expect(await reg.touchClientTokenTime(db, app.client_id, now)).toBe(true);
      expect(await reg.touchClientTokenTime(db, app.client_id, now + 30_000)).toBe(false);
      expect(await reg.findRegisteredClient(db, app.client_id)).toMatchObject({ last_token_at: now });
      expect(await reg.touchClientTokenTime(db, app.client_id, now + 60_000)).toBe(true);
      expect(await reg.findRegisteredClient(db, app.client_id)).toMatchObject({ last_token_at: now + 60_000 });

      await reg.deleteRegisteredClient(db, noMetadata.client_id);
      expect(await reg.findRegisteredClient(db, noMetadata.client_id)).toBeUndefined();
    });

    it('reports a second client id or manufacturer id as already_exists', async () => {
      const device = registeredClientRow({ kind: 'device', manufacturer_id: uniq('mfr') });
      await reg.insertRegisteredClient(db, device);
      await expect(reg.insertRegisteredClient(db, { ...device, manufacturer_id: null })).rejects.toMatchObject(alreadyExists);
      await expect(reg.insertRegisteredClient(db, { ...device, client_id: uniq('client') })).rejects.toMatchObject(alreadyExists);
      const raced = await Promise.allSettled(
        Array.from({ length: 5 }, () => reg.insertRegisteredClient(db, registeredClientRow({ manufacturer_id: 'raced-mfr' }))),
      );
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(raced.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual(
        Array.from({ length: 4 }, () => expect.objectContaining(alreadyExists)),
      );
    });

    it('uses a client approval link once when 20 callers race; the others for the client retire', async () => {
      const client = registeredClientRow();
      await reg.insertRegisteredClient(db, client);
      const first = { token_hash: uniq('cal'), client_id: client.client_id, approver: 'a@example.org', expires_at: now + 1000, used_at: null };
      const second = { ...first, token_hash: uniq('cal'), approver: 'b@example.org' };
      await reg.insertClientApprovalLink(db, first);
      await reg.insertClientApprovalLink(db, second);
      expect(await reg.findClientApprovalLink(db, first.token_hash)).toEqual(first);
      expect(await reg.useClientApprovalLink(db, first.token_hash, now + 1000)).toBe(false);
      expect(await winners(parallel, () => reg.useClientApprovalLink(db, first.token_hash, now))).toBe(1);
      await reg.retireClientApprovalLinks(db, client.client_id, now);
      expect(await reg.useClientApprovalLink(db, second.token_hash, now)).toBe(false);
      await expect(reg.insertClientApprovalLink(db, first)).rejects.toMatchObject(alreadyExists);
    });
  });

  describe('device tokens', () => {
    it('hands out exactly max_devices uses when 20 callers race, and none from a revoked or expired token', async () => {
      const token = deviceTokenRow({ max_devices: 7 });
      await devices.insertDeviceToken(db, token);
      expect(await devices.findDeviceToken(db, token.id)).toEqual(token);
      expect((await devices.listDeviceTokens(db)).map((t) => t.id)).toContain(token.id);
      expect(await winners(parallel, () => devices.takeDeviceTokenUse(db, token.id, now))).toBe(7);
      const unlimited = deviceTokenRow({ max_devices: 0 });
      await devices.insertDeviceToken(db, unlimited);
      expect(await winners(parallel, () => devices.takeDeviceTokenUse(db, unlimited.id, now))).toBe(parallel);
      expect(await devices.takeDeviceTokenUse(db, unlimited.id, unlimited.expires_at)).toBe(false);
      expect(await winners(parallel, () => devices.revokeDeviceToken(db, unlimited.id, now))).toBe(1);
      expect(await devices.takeDeviceTokenUse(db, unlimited.id, now)).toBe(false);
      await expect(devices.insertDeviceToken(db, token)).rejects.toMatchObject(alreadyExists);
    });
  });

  describe('oidc-provider models', () => {
    it('upserts, finds by key, uid and user code, lists and destroys', async () => {
      const session = modelRow('Session', { uid: uniq('uid'), account_id: 'acc-1', payload: '{"a":1}' });
      await models.upsertModel(db, session);
      await models.upsertModel(db, { ...session, payload: '{"a":2}' });
      expect(await models.findModel(db, 'Session', session.id)).toEqual({ ...session, payload: '{"a":2}' });
      expect(await models.findModelBy(db, 'Session', 'uid', session.uid!)).toMatchObject({ id: session.id });
      const code = modelRow('DeviceCode', { user_code: uniq('UC') });
      await models.upsertModel(db, code);
      expect(await models.findModelBy(db, 'DeviceCode', 'user_code', code.user_code!)).toMatchObject({ id: code.id });
      expect(await models.findModelBy(db, 'Session', 'user_code', code.user_code!)).toBeUndefined();
      expect((await models.listModels(db, 'DeviceCode')).map((m) => m.id)).toContain(code.id);
      expect(await models.destroyModel(db, 'DeviceCode', code.id)).toBe(1);
      expect(await models.destroyModel(db, 'DeviceCode', code.id)).toBe(0);
      expect(await models.destroyByAccountId(db, 'acc-1')).toBe(1);
      expect(await models.findModel(db, 'Session', session.id)).toBeUndefined();
    });

    it('upserts and reads inside a transaction the same way (off the SQLite fast path)', async () => {
      const row = modelRow('Interaction');
      await withTransaction(db, async (trx) => {
        await models.upsertModel(trx, row);
        expect(await models.findModel(trx, 'Interaction', row.id)).toEqual(row);
        expect(await models.consumeModel(trx, 'Interaction', row.id, now)).toBe(true);
      });
      expect(await models.findModel(db, 'Interaction', row.id)).toMatchObject({ consumed_at: now });
    });

    it('consumes once when 20 callers race', async () => {
      const code = modelRow('AuthorizationCode');
      await models.upsertModel(db, code);
      expect(await winners(parallel, () => models.consumeModel(db, 'AuthorizationCode', code.id, now))).toBe(1);
      expect(await models.findModel(db, 'AuthorizationCode', code.id)).toMatchObject({ consumed_at: now });
      expect(await models.findModelState(db, 'AuthorizationCode', code.id)).toEqual({ payload: code.payload, expires_at: code.expires_at, consumed_at: now });
    });

    it('finds a client with Gatehouse’s hold on it, and lists the clients with web origins that are not held', async () => {
      const open = modelRow('Client', { payload: JSON.stringify({ client_id: 'x', web_origins: ['https://a.example'] }) });
      const held = modelRow('Client', { payload: JSON.stringify({ client_id: 'y', web_origins: ['https://b.example'] }) });
      await models.upsertModel(db, open);
      await models.upsertModel(db, held);
      await reg.insertRegisteredClient(db, registeredClientRow({ client_id: held.id, disabled_reason: 'admin', disabled_at: now }));
      const state = (row: typeof open) => ({ payload: row.payload, expires_at: row.expires_at, consumed_at: row.consumed_at });
      expect(await models.findClientModel(db, open.id)).toEqual({ ...state(open), disabled_at: null });
      expect(await models.findClientModel(db, held.id)).toEqual({ ...state(held), disabled_at: now });
      expect(await models.findClientModel(db, 'nobody')).toBeUndefined();
      const payloads = await clientPayloadsWithWebOrigins(db);
      expect(payloads).toContain(open.payload);
      expect(payloads).not.toContain(held.payload);
    });

    it('ends everything of one client (grants, what was issued under them, grant-less rows) and of one grant, and nothing else', async () => {
      const clientId = uniq('c');
      const client = modelRow('Client', { id: clientId });
      const grant = modelRow('Grant', { payload: JSON.stringify({ clientId }) });
      const underGrant = modelRow('AccessToken', { grant_id: grant.id });
      const credentials = modelRow('ClientCredentials', { payload: JSON.stringify({ clientId }) });
      const otherGrant = modelRow('Grant', { payload: JSON.stringify({ clientId: 'someone-else' }) });
      const otherToken = modelRow('RefreshToken', { grant_id: otherGrant.id });
      for (const row of [client, grant, underGrant, credentials, otherGrant, otherToken]) await models.upsertModel(db, row);
      expect(await withTransaction(db, (trx) => models.destroyModelsOfClient(trx, clientId))).toBe(4);
      expect(await models.findModel(db, 'Grant', otherGrant.id)).toBeDefined();
      expect(await models.destroyByGrantId(db, otherGrant.id)).toBe(1);
      expect(await models.findModel(db, 'RefreshToken', otherToken.id)).toBeUndefined();
    });

    it('deletes expired rows in batches', async () => {
      const rows = Array.from({ length: 3 }, () => modelRow('AccessToken', { expires_at: now - 1 }));
      for (const row of rows) await models.upsertModel(db, row);
      const lasting = modelRow('AccessToken', { expires_at: now + 1 });
      await models.upsertModel(db, lasting);
      expect(await models.deleteExpiredModels(db, now, 2)).toBe(2);
      expect(await models.deleteExpiredModels(db, now)).toBeGreaterThanOrEqual(1);
      expect(await models.deleteExpiredModels(db, now)).toBe(0);
      expect(await models.findModel(db, 'AccessToken', lasting.id)).toBeDefined();
    });
  });

  describe('keys', () => {
    it('inserts, lists, retires and deletes signing keys; cookie keys newest first', async () => {
      const rs = { kid: uniq('kid'), alg: 'RS256', private_jwk: '{}', created_at: now, retired_at: null };
      await keys.insertSigningKey(db, rs);
      expect((await keys.listSigningKeys(db)).find((k) => k.kid === rs.kid)).toEqual(rs);
      const { private_jwk: _secret, ...state } = rs;
      expect((await keys.listSigningKeyStates(db)).find((k) => k.kid === rs.kid)).toEqual(state);
      await expect(keys.insertSigningKey(db, rs)).rejects.toMatchObject(alreadyExists);
      await keys.retireSigningKeys(db, 'RS256', now + 1);
      expect((await keys.listSigningKeys(db)).find((k) => k.kid === rs.kid)).toMatchObject({ retired_at: now + 1 });
      expect(await keys.deleteSigningKeysRetiredBefore(db, now + 1)).toBe(0);
      expect(await keys.deleteSigningKeysRetiredBefore(db, now + 2)).toBeGreaterThanOrEqual(1);
      const es = { kid: uniq('kid'), alg: 'ES256', private_jwk: '{}', created_at: now, retired_at: null };
      await keys.insertSigningKey(db, es);
      expect(await keys.deleteSigningKey(db, es.kid)).toBe(1);

      await keys.insertCookieKey(db, 'older', now);
      await keys.insertCookieKey(db, 'newer', now);
      expect((await keys.listCookieKeys(db)).slice(0, 2)).toEqual(['newer', 'older']);
    });

    it('locks the keys of an algorithm: 20 racing revocations leave one active key', async () => {
      const alg = 'PS384';
      await keys.insertSigningKey(db, { kid: uniq('kid'), alg, private_jwk: '{}', created_at: now, retired_at: null });
      await keys.insertSigningKey(db, { kid: uniq('kid'), alg, private_jwk: '{}', created_at: now, retired_at: null });
      // Half the callers revoke the first key, half the second: unlocked, two of them would both see "another remains".
      const revoked = await Promise.all(
        Array.from({ length: parallel }, (_, i) =>
          withTransaction(db, async (trx) => {
            await keys.lockSigningKeys(trx, alg);
            const active = (await keys.listSigningKeys(trx)).filter((k) => k.alg === alg && k.retired_at === null);
            if (active.length < 2) return false;
            return (await keys.deleteSigningKey(trx, active[i % 2]!.kid)) === 1;
          }),
        ),
      );
      expect(revoked.filter(Boolean)).toHaveLength(1);
      expect((await keys.listSigningKeys(db)).filter((k) => k.alg === alg)).toHaveLength(1);
    });
  });

  describe('mail outbox and audit log', () => {
    it('queues mail, leases each due mail to one of 20 racing senders, and records sending and failure', async () => {
      const id = await mail.enqueueMail(db, { to: 'a@example.org', subject: 's', text: 't', html: null }, now);
      expect(typeof id).toBe('number');
      expect((await mail.listDueMail(db, now, 100)).map((m) => m.id)).toContain(id);
      expect(await mail.listDueMail(db, now - 1, 100)).toEqual([]);
      expect(await winners(parallel, () => mail.claimMail(db, id, now, 30_000))).toBe(1);
      expect((await mail.listDueMail(db, now, 100)).map((m) => m.id)).not.toContain(id);
      await mail.markMailFailed(db, id, 'x'.repeat(3000), now + 60_000);
      const failed = (await mail.listMail(db)).find((m) => m.id === id);
      expect(failed).toMatchObject({ status: 'pending', attempts: 1, next_attempt_at: now + 60_000, locked_until: null });
      expect(failed?.last_error).toHaveLength(2000);
      expect(await mail.claimMail(db, id, now + 60_000, 30_000)).toBe(true);
      await mail.markMailSent(db, id, now + 60_001);
      expect((await mail.listMail(db)).find((m) => m.id === id)).toMatchObject({ status: 'sent', sent_at: now + 60_001, last_error: null });
      expect(await mail.claimMail(db, id, now + 120_000, 30_000)).toBe(false);
    });

    it('appends audit rows and lists the newest first', async () => {
      await appendAudit(db, { at: now, actor: 'test', action: 'first', subject: null, details: null });
      await appendAudit(db, { at: now, actor: 'test', action: 'second', subject: 's', details: '{"k":1}' });
      const [newest, previous] = await listAudit(db, 2);
      expect(newest).toMatchObject({ action: 'second', subject: 's', details: '{"k":1}' });
      expect(previous).toMatchObject({ action: 'first' });
      expect(newest!.id).toBeGreaterThan(previous!.id);
    });
  });

  describe('flavour locks', () => {
    /** Count, then write if under the limit: the shape of maxClients and of start-up work. */
    async function countThenInsert(lock: (trx: Knex.Transaction) => Promise<void>, marker: string, limit: number): Promise<boolean> {
      return withTransaction(db, async (trx) => {
        await lock(trx);
        const [row] = await trx('audit_log').where({ action: marker }).count<{ n: number | string }[]>({ n: '*' });
        if (Number(row?.n ?? 0) >= limit) return false;
        await appendAudit(trx, { at: now, actor: 'test', action: marker, subject: null, details: null });
        return true;
      });
    }

    it('lets exactly the limit through when 20 counting transactions race (lockForCounting)', async () => {
      expect(await winners(parallel, () => countThenInsert((trx) => lockForCounting(trx, 'registration'), 'counted', 5))).toBe(5);
    });

    it('lets one instance do start-up work when 20 race (lockForStartup)', async () => {
      expect(await winners(parallel, () => countThenInsert(lockForStartup, 'started', 1))).toBe(1);
    });
  });
});
