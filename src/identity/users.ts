/**
 * People: resolving a connector identity to an internal user (creating it on a
 * first login), and the admin operations on users. Depends on db, audit, lib.
 */
import { Audit } from '../audit/audit.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { deleteAccountSessionsOfUser } from '../db/repos/account-sessions.ts';
import { destroyByAccountId } from '../db/repos/oidc-models.ts';
import { deleteAdminSessionsOfUser, voidPasswordResets } from '../db/repos/password-resets.ts';
import {
  deleteLocalAccount,
  deleteUser,
  findLocalAccount,
  findLocalAccountByEmail,
  findUser,
  findUserIdp,
  findUsersByEmail,
  insertLocalAccount,
  insertUser,
  insertUserIdp,
  listUserIdps,
  listUsers,
  updateLocalAccount,
  updateUser,
  type UserIdpRow,
  type UserRow,
  type UserStatus,
} from '../db/repos/users.ts';
import { withTransaction, type DbOrTx } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/secrets.ts';
import type { Identity } from './identity.ts';
import { checkPasswordStrength, type Passwords } from './passwords.ts';

export interface UserDetails extends UserRow {
  identities: UserIdpRow[];
}

export class Users {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly passwords: Passwords,
    private readonly localConnectorId: string,
  ) {}

  /** The user an identity belongs to, if it has logged in before. */
  async findByIdentity(db: DbOrTx, identity: Identity): Promise<UserRow | undefined> {
    const link = await findUserIdp(db, identity.connectorId, identity.subject);
    return link ? findUser(db, link.user_id) : undefined;
  }

  /**
   * Creates the user and its `user_idp` link (inside the caller's transaction).
   * `signingIn`: a first login, recorded as a login like every later one; an
   * admin-made user has not signed in yet.
   */
  async createFromIdentity(trx: DbOrTx, identity: Identity, actor: string, options: { signingIn?: boolean } = {}): Promise<UserRow> {
    const now = this.clock.now();
    const user: UserRow = {
      id: newId(),
      email: identity.email?.toLowerCase() ?? null,
      email_verified: identity.emailVerified,
      name: identity.name ?? null,
      status: 'active',
      created_at: now,
      last_login_at: options.signingIn ? now : null,
    };
    await insertUser(trx, user);
    await insertUserIdp(trx, { connector_id: identity.connectorId, subject: identity.subject, user_id: user.id, email: user.email, created_at: now });
    await this.audit.record(trx, { actor, action: 'user.created', subject: user.id, details: { connector: identity.connectorId, email: user.email } });
    return user;
  }

  /** The user behind an identity, if it has been let in before. */
  lookup(identity: Identity): Promise<UserRow | undefined> {
    return this.findByIdentity(this.db, identity);
  }

  /**
   * The existing user a new identity could be linked to: same verified e-mail,
   * exactly one active user with it, and no identity of that connector yet.
   * Linking still waits until that user proves an identity it already has.
   */
  async linkCandidate(identity: Identity): Promise<UserRow | undefined> {
    if (!identity.emailVerified || !identity.email) return undefined;
    const owners = (await findUsersByEmail(this.db, identity.email)).filter((u) => u.status === 'active' && u.email_verified);
    if (owners.length !== 1) return undefined;
    const [owner] = owners;
    const links = await listUserIdps(this.db, owner!.id);
    return links.some((l) => l.connector_id === identity.connectorId) ? undefined : owner;
  }

  /** Links a held identity to the user who just proved an existing identity, when it is that user's candidate. */
  async linkIfCandidate(user: UserRow, identity: Identity): Promise<boolean> {
    const candidate = await this.linkCandidate(identity);
    if (candidate?.id !== user.id) return false;
    await withTransaction(this.db, async (trx) => {
      await insertUserIdp(trx, {
        connector_id: identity.connectorId,
        subject: identity.subject,
        user_id: user.id,
        email: identity.email?.toLowerCase() ?? null,
        created_at: this.clock.now(),
      });
      await this.audit.record(trx, {
        actor: `user:${user.id}`,
        action: 'user.identity_linked',
        subject: user.id,
        details: { connector: identity.connectorId, subject: identity.subject },
      });
    });
    return true;
  }

  /** A known user completed a login: refused when disabled, else the login time is kept. */
  async recordLogin(user: UserRow, db: DbOrTx = this.db): Promise<UserRow> {
    if (user.status !== 'active') throw new GatehouseError('auth.user_disabled', 'This account has been disabled. Contact your administrator.');
    const now = this.clock.now();
    await updateUser(db, user.id, { last_login_at: now });
    return { ...user, last_login_at: now };
  }

  async get(id: string): Promise<UserDetails> {
    const user = await findUser(this.db, id);
    if (!user) throw new GatehouseError('not_found', `no user with id ${id}`);
    return { ...user, identities: await listUserIdps(this.db, id) };
  }

  async find(id: string): Promise<UserRow | undefined> {
    return findUser(this.db, id);
  }

  list(): Promise<UserRow[]> {
    return listUsers(this.db);
  }

  /** Admin-created user with a local (email + password) identity; the e-mail counts as verified. */
  async createLocal(
    input: { email: string; name?: string | undefined; password?: string | undefined },
    actor: string,
    /** More work in the same transaction (e.g. linking an invitation). */
    within?: (trx: DbOrTrx, user: UserRow) => Promise<void>,
  ): Promise<UserRow> {
    const email = input.email.trim().toLowerCase();
    if (input.password !== undefined) checkPasswordStrength(input.password);
    // Without a password the account cannot log in with one until it is set; an unguessable hash keeps it closed.
    const passwordHash = await this.passwords.hash(input.password ?? newId() + newId());
    return withTransaction(this.db, async (trx) => {
      if (await findLocalAccountByEmail(trx, email)) throw new GatehouseError('already_exists', `a local account for ${email} already exists`);
      const now = this.clock.now();
      const accountId = newId();
      await insertLocalAccount(trx, { id: accountId, email, name: input.name ?? null, password_hash: passwordHash, email_verified_at: now, created_at: now });
      const user = await this.createFromIdentity(
        trx,
        { connectorId: this.localConnectorId, subject: accountId, email, emailVerified: true, name: input.name },
        actor,
      );
      if (within) await within(trx, user);
      return user;
    });
  }

  /** The address of a user's local (e-mail + password) account, where its reset links go; `not_found` without one. */
  async localAccountEmail(id: string): Promise<string> {
    const user = await findUser(this.db, id);
    if (!user) throw new GatehouseError('not_found', `no user with id ${id}`);
    const links = await listUserIdps(this.db, id);
    const local = links.find((link) => link.connector_id === this.localConnectorId);
    const account = local && (await findLocalAccount(this.db, local.subject));
    if (!account) {
      throw new GatehouseError(
        'not_found',
        `user ${id} has no local (e-mail + password) account, only ${links.map((l) => l.connector_id).join(', ') || 'no identity'}`,
      );
    }
    return account.email;
  }

  /**
   * Sets (or replaces) the password of a user's local account: how an account
   * made without one (`user create` without a password) gets one.
   * `endSignIns` (an admin's `user set-password`, PUT /users/:id/password):
   * the change ends the account's sessions, grants and refresh tokens, its
   * console and account-page sessions, and its open reset links, as a reset
   * does (replaceLocalPassword). Without it sessions stay: the person's own
   * change on /account ends the others itself and keeps the browser it came from.
   */
  async setPassword(id: string, password: string, actor: string, options: { endSignIns?: boolean } = {}): Promise<UserRow> {
    checkPasswordStrength(password);
    const passwordHash = await this.passwords.hash(password);
    return withTransaction(this.db, async (trx) => {
      const user = await findUser(trx, id);
      if (!user) throw new GatehouseError('not_found', `no user with id ${id}`);
      const links = await listUserIdps(trx, id);
      const local = links.find((link) => link.connector_id === this.localConnectorId);
      if (!local)
        throw new GatehouseError(
          'not_found',
          `user ${id} has no local (e-mail + password) account, only ${links.map((l) => l.connector_id).join(', ') || 'no identity'}`,
        );
      if (options.endSignIns) {
        await this.replaceLocalPassword(trx, local.subject, passwordHash);
        await voidPasswordResets(trx, local.subject, this.clock.now());
      } else {
        await updateLocalAccount(trx, local.subject, { password_hash: passwordHash });
      }
      await this.audit.record(trx, { actor, action: 'user.password_set', subject: id, ...(options.endSignIns ? { details: { signInsEnded: true } } : {}) });
      return user;
    });
  }

  /**
   * Replaces a local account's password hash inside the caller's transaction
   * and ends everything the account's user holds (sessions, grants, access and
   * refresh tokens, as disabling does; and its console and account-page
   * sessions): after a reset nobody stays signed in with the old password.
   * Returns the user, when the account has signed in before.
   */
  async replaceLocalPassword(trx: DbOrTrx, localAccountId: string, passwordHash: string): Promise<UserRow | undefined> {
    await updateLocalAccount(trx, localAccountId, { password_hash: passwordHash });
    const user = await this.findByIdentity(trx, { connectorId: this.localConnectorId, subject: localAccountId, emailVerified: true });
    if (user) {
      await destroyByAccountId(trx, user.id);
      await deleteAdminSessionsOfUser(trx, user.id);
      await deleteAccountSessionsOfUser(trx, user.id);
    }
    return user;
  }

  async setStatus(id: string, status: UserStatus, actor: string): Promise<UserRow> {
    return withTransaction(this.db, async (trx) => {
      const user = await findUser(trx, id);
      if (!user) throw new GatehouseError('not_found', `no user with id ${id}`);
      await updateUser(trx, id, { status });
      // A disabled user loses every session, grant and token at once.
      if (status === 'disabled') await destroyByAccountId(trx, id);
      await this.audit.record(trx, { actor, action: status === 'disabled' ? 'user.disabled' : 'user.enabled', subject: id });
      return { ...user, status };
    });
  }

  async delete(id: string, actor: string): Promise<void> {
    await withTransaction(this.db, async (trx) => {
      const user = await findUser(trx, id);
      if (!user) throw new GatehouseError('not_found', `no user with id ${id}`);
      for (const link of await listUserIdps(trx, id)) {
        if (link.connector_id === this.localConnectorId) await deleteLocalAccount(trx, link.subject);
      }
      await destroyByAccountId(trx, id);
      await deleteUser(trx, id);
      await this.audit.record(trx, { actor, action: 'user.deleted', subject: id, details: { email: user.email } });
    });
  }
}
