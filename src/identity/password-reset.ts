/**
 * "Forgot password?" for local accounts: a reset link by mail, single-use,
 * expiring after an hour, its token stored only as a SHA-256, at most a few
 * per account and hour. Asking gives nothing away: an unknown address takes
 * the same path (a transaction with a write, an audit entry) without a mail,
 * and the caller shows the same answer. Opening the link changes nothing; only
 * `reset` does, in one transaction: the link is used by a conditional update
 * (a concurrent second use loses), the password replaced (argon2id, sign-up's
 * rules), the account's other open links voided, and every session, grant and
 * token of the user ended (Users.replaceLocalPassword, as disabling does), and
 * its console and account-page sessions with them.
 * Depends on db, audit, mail, lib.
 */
import type { Audit } from '../audit/audit.ts';
import type { Db } from '../db/knex.ts';
import { deleteAccountSessionsOfUser } from '../db/repos/account-sessions.ts';
import {
  deleteAdminSessionsOfUser,
  deleteExpiredPasswordResets,
  findPasswordReset,
  insertPasswordReset,
  usePasswordReset,
  voidPasswordResets,
  type PasswordResetRow,
} from '../db/repos/password-resets.ts';
import { findLocalAccount, findLocalAccountByEmail, updateLocalAccount } from '../db/repos/users.ts';
import { withTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { isEmail } from '../lib/email.ts';
import { randomSecret, sha256 } from '../lib/secrets.ts';
import { Limiter, type LimiterStore } from '../lib/limiter-store.ts';
import type { MailOutbox } from '../mail/outbox.ts';
import { checkPasswordStrength, type Passwords } from './passwords.ts';
import type { Users } from './users.ts';

export interface PasswordResetOptions {
  /** The local connector whose accounts these are (`user_idp.connector_id`). */
  localConnectorId: string;
  issuer: string;
  brandName: string;
  /** How long a link works (1 hour). */
  linkTtlMs?: number;
  /** Links mailed per address within `perAccountWindowMs` (3 an hour); past it the same answer, no mail. */
  perAccountMax?: number;
  perAccountWindowMs?: number;
  /** Where the per-address count is kept (`gh.limiterStore`: shared by the instances). */
  limiterStore: LimiterStore;
}

/** Why a link no longer works: the words the page shows. */
export type ResetLinkProblem = 'expired' | 'used' | 'unknown';

const problemWords: Record<ResetLinkProblem, string> = {
  expired: 'This reset link has expired: links work for one hour. Ask for a new one.',
  used: 'This reset link was already used: each link works once. If you still cannot sign in, ask for a new one.',
  unknown: 'This reset link is not valid. Check that you copied the whole link from the mail, or ask for a new one.',
};

/** A link that does not work; `details.problem` says why (the page answers 410). */
export const resetLinkError = (problem: ResetLinkProblem): GatehouseError => new GatehouseError('verification.invalid', problemWords[problem], { problem });

const hour = 3_600_000;

export class PasswordResets {
  private readonly perAccount: Limiter;
  private readonly linkTtlMs: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly passwords: Passwords,
    private readonly outbox: MailOutbox,
    private readonly users: Users,
    private readonly options: PasswordResetOptions,
  ) {
    this.linkTtlMs = options.linkTtlMs ?? hour;
    this.perAccount = new Limiter(options.limiterStore, 'passwordReset.perAddress', options.perAccountMax ?? 3, options.perAccountWindowMs ?? hour);
  }

  /**
   * Mails a reset link to `emailInput` if a local account has that address.
   * Returns nothing that tells whether it had one. `returnTo` (a sign-in
   * under way, already checked by the caller) travels in the link. `from`:
   * the asking IP, and the actor when it is not the person (an admin's
   * "send reset link": `admin:<email>`).
   */
  async request(emailInput: string, returnTo: string | undefined, from: { ip?: string; actor?: string } = {}): Promise<void> {
    const email = emailInput.trim().toLowerCase();
    if (!isEmail(email)) throw new GatehouseError('input.invalid', 'Enter a valid e-mail address.', { field: 'email' });
    // Counted per address, known or not, so being throttled tells nothing either.
    if (!(await this.perAccount.hit(email)).allowed) return;
    const token = randomSecret();
    const tokenHash = sha256(token);
    const now = this.clock.now();
    await withTransaction(this.db, async (trx) => {
      // Both paths write: old links are swept, and the request is audited.
      await deleteExpiredPasswordResets(trx, now - 24 * hour);
      const account = await findLocalAccountByEmail(trx, email);
      const user = account && (await this.users.findByIdentity(trx, { connectorId: this.options.localConnectorId, subject: account.id, emailVerified: true }));
      if (account) {
        await insertPasswordReset(trx, { token_hash: tokenHash, local_account_id: account.id, created_at: now, expires_at: now + this.linkTtlMs });
        const query = returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : '';
        await this.outbox.enqueue(trx, {
          to: account.email,
          subject: 'Reset your password',
          template: 'password-reset',
          context: {
            name: account.name ?? '',
            link: `${this.options.issuer}/reset-password/${token}${query}`,
            brand: this.options.brandName,
            minutes: Math.round(this.linkTtlMs / 60_000),
          },
        });
      }
      await this.audit.record(trx, {
        actor: from.actor ?? email,
        action: 'password.reset_requested',
        // The user when the account has signed in before, else the local account.
        ...(account ? { subject: user?.id ?? account.id } : {}),
        details: { ...(from.ip ? { ip: from.ip } : {}), ...(from.actor ? { email } : {}), mailed: Boolean(account) },
      });
    });
  }

  /** The address a link is for, changing nothing (mail scanners open links); throws `resetLinkError` when it does not work. */
  async view(token: string): Promise<string> {
    const { row } = await this.usable(token);
    const account = await findLocalAccount(this.db, row.local_account_id);
    if (!account) throw resetLinkError('unknown');
    return account.email;
  }

  /**
   * Sets a new password through a link, once: `password` and `again` must match
   * and pass sign-up's rules. Returns the account's address.
   */
  async reset(token: string, password: string, again: string): Promise<string> {
    // A link that no longer works says so before anything about the form.
    await this.usable(token);
    if (password !== again) throw new GatehouseError('input.invalid', 'The two passwords are not the same. Type the new password twice.', { field: 'again' });
    checkPasswordStrength(password);
    const passwordHash = await this.passwords.hash(password);
    return withTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const tokenHash = sha256(token);
      if (!(await usePasswordReset(trx, tokenHash, now))) {
        // Lost a race, or ran out while the password was hashed.
        const row = await findPasswordReset(trx, tokenHash);
        throw resetLinkError(!row ? 'unknown' : row.used_at !== null ? 'used' : 'expired');
      }
      const row = (await findPasswordReset(trx, tokenHash))!;
      const account = await findLocalAccount(trx, row.local_account_id);
      if (!account) throw resetLinkError('unknown');
      const user = await this.users.replaceLocalPassword(trx, account.id, passwordHash);
      if (user) {
        // The sessions of Gatehouse's own pages too: the console's and the account pages'.
        await deleteAdminSessionsOfUser(trx, user.id);
        await deleteAccountSessionsOfUser(trx, user.id);
      }
      // The link came by mail to this address: that confirms it, as the confirmation link would.
      if (account.email_verified_at === null) await updateLocalAccount(trx, account.id, { email_verified_at: now });
      await voidPasswordResets(trx, account.id, now);
      await this.audit.record(trx, { actor: account.email, action: 'password.reset', subject: user?.id ?? account.id });
      return account.email;
    });
  }

  private async usable(token: string): Promise<{ row: PasswordResetRow }> {
    const row = token.length > 200 ? undefined : await findPasswordReset(this.db, sha256(token));
    if (!row) throw resetLinkError('unknown');
    if (row.used_at !== null) throw resetLinkError('used');
    if (row.expires_at <= this.clock.now()) throw resetLinkError('expired');
    return { row };
  }
}
