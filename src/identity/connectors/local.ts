/**
 * The `local` connector: e-mail + password accounts (argon2id), optional self
 * sign-up verified by a mailed link, and the login throttle (`LoginThrottle`:
 * tight per account and IP, per IP; across IPs growing delays, never a lock-out
 * of the owner).
 */
import type { Audit } from '../../audit/audit.ts';
import type { Db } from '../../db/knex.ts';
import {
  findEmailVerification,
  findLocalAccount,
  findLocalAccountByEmail,
  insertEmailVerification,
  insertLocalAccount,
  updateLocalAccount,
  useEmailVerification,
} from '../../db/repos/users.ts';
import { findEmailVerificationLink } from '../../db/repos/email-verification-links.ts';
import { withTransaction } from '../../db/transaction.ts';
import { GatehouseError } from '../../errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { isEmail } from '../../lib/email.ts';
import { newId, randomSecret, sha256 } from '../../lib/secrets.ts';
import { Limiter, type LimiterStore } from '../../lib/limiter-store.ts';
import type { MailOutbox } from '../../mail/outbox.ts';
import type { Identity } from '../identity.ts';
import { LoginThrottle } from '../login-throttle.ts';
import { checkPasswordStrength, type Passwords } from '../passwords.ts';

export interface LocalConnectorOptions {
  id: string;
  name: string;
  signup: boolean;
  maxFailures: number;
  windowMs: number;
  issuer: string;
  brandName: string;
}

const verificationTtlMs = 24 * 3600 * 1000;

/**
 * A link carries a mark of the password chosen in the same sign-up. A later
 * sign-up for the address (perhaps by a stranger) replaces the password and so
 * voids the earlier links: otherwise the owner's own link would confirm the
 * account with the stranger's password (pre-verification account takeover).
 */
const passwordMark = (passwordHash: string): string => sha256(passwordHash).slice(0, 16);

/** "40 seconds", "3 minutes", "2 hours": how long a throttled person waits, in words. */
function waitTime(seconds: number): string {
  const [amount, unit] = seconds < 90 ? [seconds, 'second'] : seconds < 5400 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/** `email`: the address the link was for, when the link is known (expired, or voided by a later sign-up), to fill in the "send it again" form. */
const invalidVerification = (email?: string) =>
  new GatehouseError(
    'verification.invalid',
    'This confirmation link is invalid, already used or expired. Ask for a new one below.',
    email === undefined ? undefined : { email },
  );

/** What a confirmation link leads to: the address to confirm, or one that is confirmed already. */
export interface VerificationState {
  email: string;
  /** The address was confirmed before (this link or another): the person can sign in. */
  alreadyConfirmed: boolean;
  /** A link from "send it again": confirming it takes the password chosen at sign-up (see `resendVerification`). */
  needsPassword?: boolean;
}

/** Links from "send it again" end in this segment (after the password mark). */
const resentSuffix = '.r';

export class LocalConnector {
  readonly type = 'local';
  private readonly throttle: LoginThrottle;
  /** "Send it again" per address (the per-IP limit is the sign-up window, in the HTTP layer). */
  private readonly resends: Limiter;

  constructor(
    readonly options: LocalConnectorOptions,
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly passwords: Passwords,
    private readonly outbox: MailOutbox,
    private readonly audit: Audit,
    limiterStore: LimiterStore,
  ) {
    this.throttle = new LoginThrottle({ maxFailures: options.maxFailures, windowMs: options.windowMs }, clock, limiterStore, options.id);
    this.resends = new Limiter(limiterStore, `signup.resend@${options.id}`, 3, 3_600_000);
  }

  get id(): string {
    return this.options.id;
  }

  get name(): string {
    return this.options.name;
  }

  async authenticate(emailInput: string, password: string, ip: string): Promise<Identity> {
    const email = emailInput.trim().toLowerCase();
    if (!email || !password) throw new GatehouseError('input.invalid', 'Enter your e-mail address and password.');
    const seen = await this.throttle.check(email, ip);
    if (seen.waitMs > 0) {
      const retryAfterSeconds = Math.ceil(seen.waitMs / 1000);
      throw new GatehouseError('auth.throttled', `Too many failed sign-in attempts. Try again in ${waitTime(retryAfterSeconds)}.`, { retryAfterSeconds });
    }
    const account = await findLocalAccountByEmail(this.db, email);
    const ok = await this.passwords.verify(account?.password_hash, password);
    if (!account || !ok) {
      await this.throttle.failed(email, ip);
      throw new GatehouseError('auth.invalid_credentials', 'The e-mail address or password is wrong.');
    }
    if (account.email_verified_at === null) {
      throw new GatehouseError('auth.email_not_verified', 'Confirm your e-mail address first: open the link we sent you.');
    }
    await this.throttle.succeeded(email, ip, seen);
    return { connectorId: this.id, subject: account.id, email: account.email, emailVerified: true, name: account.name ?? undefined };
  }

  /** Self sign-up: an unverified account and a verification mail. Returns nothing that tells whether the address was known. */
  async signUp(input: { email: string; name: string; password: string }, returnTo: string | undefined): Promise<void> {
    if (!this.options.signup) throw new GatehouseError('signup.disabled', 'Sign-up is not open here. Ask an administrator for an invitation.');
    const email = input.email.trim().toLowerCase();
    const name = input.name.trim();
    if (!isEmail(email)) throw new GatehouseError('input.invalid', 'Enter a valid e-mail address.');
    if (!name || name.length > 200) throw new GatehouseError('input.invalid', 'Enter your name (200 characters at most).');
    checkPasswordStrength(input.password);
    const passwordHash = await this.passwords.hash(input.password);
    await withTransaction(this.db, async (trx) => {
      const existing = await findLocalAccountByEmail(trx, email);
      if (existing?.email_verified_at) {
        // Someone already owns this address: tell them by mail, not the person at the form.
        await this.outbox.enqueue(trx, {
          to: email,
          subject: `You already have an account`,
          template: 'account-exists',
          context: { issuer: this.options.issuer, brand: this.options.brandName },
        });
        return;
      }
      const now = this.clock.now();
      const accountId = existing?.id ?? newId();
      if (existing) await updateLocalAccount(trx, accountId, { name, password_hash: passwordHash });
      else await insertLocalAccount(trx, { id: accountId, email, name, password_hash: passwordHash, email_verified_at: null, created_at: now });
      const token = `${randomSecret()}.${passwordMark(passwordHash)}`;
      await insertEmailVerification(trx, { token_hash: sha256(token), local_account_id: accountId, expires_at: now + verificationTtlMs });
      const query = returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : '';
      await this.outbox.enqueue(trx, {
        to: email,
        subject: `Confirm your e-mail address`,
        template: 'verify-email',
        context: { name, link: `${this.options.issuer}/verify-email/${token}${query}`, brand: this.options.brandName },
      });
      await this.audit.record(trx, { actor: email, action: 'signup.requested', subject: accountId });
    });
  }

  /**
   * The address a verification link would confirm, changing nothing: opening the
   * link shows a confirmation page, and only its POST (`verifyEmail`) confirms,
   * so a mail scanner that opens links confirms nothing. A link whose address is
   * confirmed already (used, or another link was) says so instead of failing.
   */
  async viewVerification(token: string): Promise<VerificationState> {
    const accountId = await findEmailVerification(this.db, sha256(token), this.clock.now());
    const account = accountId ? await findLocalAccount(this.db, accountId) : undefined;
    if (account && account.email_verified_at === null && token.split('.')[1] === passwordMark(account.password_hash)) {
      return { email: account.email, alreadyConfirmed: false, needsPassword: token.endsWith(resentSuffix) };
    }
    return this.spentLink(token);
  }

  /**
   * Uses a verification link; returns the verified address (or, for an address
   * confirmed before, says so). A resent link also takes the sign-up password.
   */
  async verifyEmail(token: string, password?: string): Promise<VerificationState> {
    if (token.endsWith(resentSuffix)) {
      const state = await this.viewVerification(token);
      if (!state.alreadyConfirmed) {
        const account = await findLocalAccountByEmail(this.db, state.email);
        if (!password) throw new GatehouseError('input.invalid', 'Enter the password you chose when you signed up.', { field: 'password' });
        if (!(await this.passwords.verify(account?.password_hash, password)))
          throw new GatehouseError(
            'input.invalid',
            'That is not the password this account was created with. If someone else signed up with your address after you, sign up again to choose your own password.',
            { field: 'password' },
          );
      }
    }
    try {
      return await withTransaction(this.db, async (trx) => {
        const accountId = await useEmailVerification(trx, sha256(token), this.clock.now());
        const account = accountId ? await findLocalAccount(trx, accountId) : undefined;
        // Throwing rolls back the use of the token along with everything else.
        if (!account || token.split('.')[1] !== passwordMark(account.password_hash)) throw invalidVerification();
        if (account.email_verified_at !== null) return { email: account.email, alreadyConfirmed: true };
        await updateLocalAccount(trx, account.id, { email_verified_at: this.clock.now() });
        await this.audit.record(trx, { actor: account.email, action: 'signup.verified', subject: account.id });
        return { email: account.email, alreadyConfirmed: false };
      });
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'verification.invalid') return this.spentLink(token);
      throw err;
    }
  }

  /**
   * "Send it again": a new confirmation link to an address whose account waits
   * for one. Known, unknown or confirmed already, the caller answers the same;
   * at most 3 an hour per address. The account's password may not be the
   * asker's: a stranger may have signed up with the address later, voiding the
   * owner's link. So a resent link confirms only with the password chosen at
   * sign-up typed on its page, never on the click alone (else the owner would
   * confirm the account with the stranger's password).
   */
  async resendVerification(emailInput: string, returnTo: string | undefined): Promise<void> {
    if (!this.options.signup) throw new GatehouseError('signup.disabled', 'Sign-up is not open here. Ask an administrator for an invitation.');
    const email = emailInput.trim().toLowerCase();
    if (!isEmail(email)) throw new GatehouseError('input.invalid', 'Enter a valid e-mail address.', { field: 'email' });
    if (!(await this.resends.hit(email)).allowed) return;
    await withTransaction(this.db, async (trx) => {
      const account = await findLocalAccountByEmail(trx, email);
      if (!account || account.email_verified_at !== null) return;
      const now = this.clock.now();
      // The mark of the password chosen at sign-up: a later sign-up still voids this link.
      const token = `${randomSecret()}.${passwordMark(account.password_hash)}${resentSuffix}`;
      await insertEmailVerification(trx, { token_hash: sha256(token), local_account_id: account.id, expires_at: now + verificationTtlMs });
      const query = returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : '';
      await this.outbox.enqueue(trx, {
        to: email,
        subject: `Confirm your e-mail address`,
        template: 'verify-email',
        context: { name: account.name ?? '', link: `${this.options.issuer}/verify-email/${token}${query}`, brand: this.options.brandName },
      });
      await this.audit.record(trx, { actor: email, action: 'signup.resent', subject: account.id });
    });
  }

  /** A link that cannot confirm (used, expired, voided, unknown): fine when its address is confirmed, else `verification.invalid`. */
  private async spentLink(token: string): Promise<VerificationState> {
    const link = token.length > 300 ? undefined : await findEmailVerificationLink(this.db, sha256(token));
    const account = link ? await findLocalAccount(this.db, link.local_account_id) : undefined;
    if (account && account.email_verified_at !== null) return { email: account.email, alreadyConfirmed: true };
    throw invalidVerification(account?.email);
  }
}
