/**
 * The second-factor service (issue 15): a person's factors (TOTP here, passkeys
 * plug in through `addConfirmedFactor` / `markUsed`), when one is required,
 * TOTP enrollment and verification (each code once, wrong codes throttled per
 * account), recovery codes, and the admin reset. Plain values in and out; the
 * sign-in step (oidc/interactions/mfa.ts) and the pages call it. See ./README.md.
 */
import type { Audit } from '../../audit/audit.ts';
import type { Db, DbOrTrx } from '../../db/knex.ts';
import {
  claimTimeStep,
  confirmFactor,
  countRecoveryCodes,
  deleteFactor,
  deleteFactorsOfUser,
  deleteRecoveryCodes,
  deleteUnconfirmedFactors,
  findFactor,
  findRequirement,
  hasFactorOrRequirement,
  insertFactor,
  listFactors,
  replaceRecoveryCodes,
  setRequirement,
  updateFactor,
  useRecoveryCode,
  type FactorRow,
} from '../../db/repos/mfa.ts';
import { findAclTokenByHash } from '../../db/repos/acl-tokens.ts';
import { findUser } from '../../db/repos/users.ts';
import { withTransaction } from '../../db/transaction.ts';
import { GatehouseError } from '../../errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { Limiter, type LimiterStore } from '../../lib/limiter-store.ts';
import { newId, sha256 } from '../../lib/secrets.ts';
import type { MailOutbox } from '../../mail/outbox.ts';
import { hashRecoveryCode, newRecoveryCodes } from './recovery.ts';
import { groupedSecret, matchTotp, newTotpSecret, qrSvg, timeStep, totpUri } from './totp.ts';

/** The `acr` of a sign-in with a second factor, and the one without (ID token `acr`, `acr_values`). */
export const mfaAcr = 'urn:gatehouse:mfa';
export const pwdAcr = 'urn:gatehouse:pwd';
/** OpenID PAPE's multi-factor policy: asked for in `acr_values`, it counts as `urn:gatehouse:mfa`. */
export const papeMultiFactor = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
/** Every `acr` value that asks for a second factor. */
export const mfaAcrValues: readonly string[] = [mfaAcr, papeMultiFactor];

/**
 * RFC 8176 `amr` values per factor kind: a TOTP code and a recovery code are both
 * one-time passwords (`otp`); passkeys say `hwk` (a device-bound key) or `swk` (synced), and
 * `user` / `pin` when the authenticator verified the person.
 */
export const amrOf: Record<string, string[]> = { totp: ['otp'], recovery: ['otp'] };

/** A factor as pages and the admin see it (no secret). */
export interface FactorSummary {
  id: string;
  kind: string;
  name: string;
  created: number;
  lastUsed: number | null;
}

export interface TotpEnrollment {
  factorId: string;
  /** The base32 secret, in groups of four for typing. */
  secret: string;
  uri: string;
  /** The QR code: an <svg> with role=img and a label, presentation attributes only. */
  svg: string;
}

export interface MfaOptions {
  /** `security.mfa`. */
  mode: 'optional' | 'required';
  /** The name authenticator apps show (branding.name). */
  issuerName: string;
  issuer: string;
  /** Wrong second-factor codes per account within `windowMs` before it waits (default 5 in 15 minutes). */
  maxFailures?: number;
  windowMs?: number;
}

const summary = (row: FactorRow): FactorSummary => ({ id: row.id, kind: row.kind, name: row.name, created: row.created_at, lastUsed: row.last_used_at });

export class Mfa {
  private readonly failures: Limiter;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly outbox: MailOutbox,
    limiterStore: LimiterStore,
    readonly options: MfaOptions,
  ) {
    this.failures = new Limiter(limiterStore, 'mfa.failures', options.maxFailures ?? 5, options.windowMs ?? 15 * 60_000);
  }

  /** The person's enrolled factors, oldest first. */
  async factors(userId: string, db: DbOrTrx = this.db): Promise<FactorSummary[]> {
    return (await listFactors(db, userId)).map(summary);
  }

  async hasFactor(userId: string): Promise<boolean> {
    return (await listFactors(this.db, userId)).length > 0;
  }

  /** Whether this person must give (or enroll) a second factor whatever the client asks: `security.mfa: required` or an invitation. */
  async requiredFor(userId: string): Promise<boolean> {
    return this.options.mode === 'required' || (await findRequirement(this.db, userId)) !== undefined;
  }

  /** Whether every sign-in of this person asks for a second factor: an enrolled factor, `security.mfa: required` or a requirement (one read). */
  async asksEverySignIn(userId: string): Promise<boolean> {
    return this.options.mode === 'required' || (await hasFactorOrRequirement(this.db, userId));
  }

  /** Marks the person as needing a second factor from now on (an invitation with `require_mfa`). */
  async requireFor(userId: string, reason: string, detail: string | null, db: DbOrTrx = this.db): Promise<void> {
    await setRequirement(db, userId, reason, detail, this.clock.now());
  }

  /** After a login admitted by `token` (an invitation's secret): when it has `require_mfa`, the person must enroll from now on. */
  async requireIfInvitedBy(userId: string, token: string | undefined): Promise<boolean> {
    if (!token) return false;
    const row = await findAclTokenByHash(this.db, sha256(token));
    if (!row || !row.require_mfa) return false;
    await this.requireFor(userId, 'invitation', row.id);
    return true;
  }

  /** Recovery codes left (unused) and made. */
  async recoveryCodes(userId: string): Promise<{ total: number; unused: number }> {
    return countRecoveryCodes(this.db, userId);
  }

  // --- TOTP ---

  /** Starts (or restarts) a TOTP enrollment: an unconfirmed factor with a new secret, confirmed by its first code. */
  async startTotp(userId: string, label: string): Promise<TotpEnrollment> {
    const secret = newTotpSecret();
    const id = newId();
    await withTransaction(this.db, async (trx) => {
      await deleteUnconfirmedFactors(trx, userId, 'totp');
      await insertFactor(trx, {
        id,
        user_id: userId,
        kind: 'totp',
        name: 'Authenticator app',
        secret,
        credential_id: null,
        created_at: this.clock.now(),
        confirmed_at: null,
      });
    });
    return this.enrollment(id, secret, label);
  }

  /** The enrollment `factorId` of this person still waiting for its first code (the page shown again after a wrong code). */
  async pendingTotp(userId: string, factorId: string, label: string): Promise<TotpEnrollment | undefined> {
    const row = await findFactor(this.db, factorId);
    if (!row || row.user_id !== userId || row.kind !== 'totp' || row.confirmed_at !== null) return undefined;
    return this.enrollment(row.id, row.secret, label);
  }

  /**
   * Confirms an enrollment with its first code. Returns new recovery codes (shown
   * once) when the person had none left, else undefined. Wrong code: `input.invalid` (field `code`).
   */
  async confirmTotp(userId: string, factorId: string, code: string, name?: string): Promise<{ recoveryCodes: string[] | undefined }> {
    const row = await findFactor(this.db, factorId);
    if (!row || row.user_id !== userId || row.kind !== 'totp' || row.confirmed_at !== null)
      throw new GatehouseError('input.invalid', 'This enrollment has expired. Start again.', { field: 'code' });
    await this.checkThrottle(userId);
    const now = this.clock.now();
    const step = await matchTotp(row.secret, code, now);
    if (step === undefined) {
      await this.failures.hit(userId);
      throw new GatehouseError('input.invalid', 'That code is not right. Enter the 6 digits your app shows now.', { field: 'code' });
    }
    const done = await withTransaction(this.db, async (trx) => {
      if (!(await claimTimeStep(trx, row.id, step, now)) || !(await confirmFactor(trx, row.id, now)))
        throw new GatehouseError('input.invalid', 'That code was used already. Wait for the next one.', { field: 'code' });
      const cleanName = name?.trim().slice(0, 100);
      if (cleanName) await updateFactor(trx, row.id, { name: cleanName });
      await this.audit.record(trx, { actor: userId, action: 'mfa.factor_added', subject: userId, details: { factor: row.id, kind: 'totp' } });
      const { unused } = await countRecoveryCodes(trx, userId);
      const recoveryCodes = unused === 0 ? await this.replaceCodes(trx, userId, userId) : undefined;
      return { recoveryCodes };
    });
    // Outside the transaction: the limiter store may be this database (SQLite has one connection).
    await this.failures.reset(userId);
    return done;
  }

  /**
   * Checks a code from the person's authenticator app against their TOTP factors
   * (±1 step on the injected clock), each code once. Wrong or reused:
   * `input.invalid` (field `code`); too many wrong ones: `rate_limited`.
   */
  async verifyTotp(userId: string, code: string): Promise<{ factorId: string; amr: string[] }> {
    await this.checkThrottle(userId);
    const now = this.clock.now();
    for (const row of await listFactors(this.db, userId)) {
      if (row.kind !== 'totp') continue;
      const step = await matchTotp(row.secret, code, now);
      if (step === undefined) continue;
      // A replayed code is refused but not counted as a guess: it was right once.
      if (!(await claimTimeStep(this.db, row.id, step, now))) {
        throw new GatehouseError('input.invalid', 'That code was used already. Wait for the next one and enter it.', { field: 'code' });
      }
      await this.failures.reset(userId);
      return { factorId: row.id, amr: amrOf.totp! };
    }
    await this.failures.hit(userId);
    throw new GatehouseError('input.invalid', 'That code is not right. Enter the 6 digits your app shows now.', { field: 'code' });
  }

  // --- recovery codes ---

  /** Uses one recovery code (once); audited and mailed to the person. Wrong: `input.invalid` (field `code`). */
  async useRecoveryCode(userId: string, code: string): Promise<{ amr: string[]; left: number }> {
    await this.checkThrottle(userId);
    const now = this.clock.now();
    const used = await withTransaction(this.db, async (trx) => {
      if (!(await useRecoveryCode(trx, userId, hashRecoveryCode(code), now))) return undefined;
      const { unused } = await countRecoveryCodes(trx, userId);
      await this.audit.record(trx, { actor: userId, action: 'mfa.recovery_code_used', subject: userId, details: { left: unused } });
      const user = await findUser(trx, userId);
      if (user?.email)
        await this.outbox.enqueue(trx, {
          to: user.email,
          subject: `A recovery code was used to sign in to ${this.options.issuerName}`,
          template: 'recovery-code-used',
          context: {
            brand: this.options.issuerName,
            name: user.name,
            left: unused,
            at: new Date(now).toISOString(),
            securityUrl: `${this.options.issuer}/account/security`,
          },
        });
      return { left: unused };
    });
    if (!used) {
      await this.failures.hit(userId);
      throw new GatehouseError('input.invalid', 'That recovery code is not right or was used already.', { field: 'code' });
    }
    await this.failures.reset(userId);
    return { amr: amrOf.recovery!, left: used.left };
  }

  /** New recovery codes (the old ones stop working), shown once. */
  async newRecoveryCodes(userId: string, actor: string): Promise<string[]> {
    return withTransaction(this.db, (trx) => this.replaceCodes(trx, userId, actor));
  }

  // --- managing factors ---

  /** For other factor kinds (passkeys): stores a factor that is already proven, audited. Returns its id. */
  async addConfirmedFactor(
    userId: string,
    factor: { kind: string; name: string; secret: string; credentialId?: string | null },
    db?: DbOrTrx,
  ): Promise<string> {
    const id = newId();
    const now = this.clock.now();
    const work = async (trx: DbOrTrx) => {
      await insertFactor(trx, {
        id,
        user_id: userId,
        kind: factor.kind,
        name: factor.name.trim().slice(0, 100) || factor.kind,
        secret: factor.secret,
        credential_id: factor.credentialId ?? null,
        created_at: now,
        confirmed_at: now,
      });
      await this.audit.record(trx, { actor: userId, action: 'mfa.factor_added', subject: userId, details: { factor: id, kind: factor.kind } });
    };
    await (db ? work(db) : withTransaction(this.db, work));
    return id;
  }

  /** A factor was just used (passkeys: with its new data, e.g. the signature counter). */
  async markUsed(factorId: string, secret?: string): Promise<void> {
    await updateFactor(this.db, factorId, { last_used_at: this.clock.now(), ...(secret !== undefined ? { secret } : {}) });
  }

  /** Removes one of the person's factors; the last one takes the recovery codes with it. */
  async removeFactor(userId: string, factorId: string, actor: string): Promise<void> {
    await withTransaction(this.db, async (trx) => {
      if (!(await deleteFactor(trx, userId, factorId))) throw new GatehouseError('not_found', 'There is no such second factor.');
      if ((await listFactors(trx, userId)).length === 0) await deleteRecoveryCodes(trx, userId);
      await this.audit.record(trx, { actor, action: 'mfa.factor_removed', subject: userId, details: { factor: factorId } });
    });
  }

  /** The admin reset: every factor and recovery code of the person goes; they enroll again when one is required. */
  async reset(userId: string, actor: string): Promise<{ factors: number; recoveryCodes: number }> {
    return withTransaction(this.db, async (trx) => {
      if (!(await findUser(trx, userId))) throw new GatehouseError('not_found', `no user with id ${userId}`);
      const factors = await deleteFactorsOfUser(trx, userId);
      const recoveryCodes = await deleteRecoveryCodes(trx, userId);
      await this.audit.record(trx, { actor, action: 'mfa.reset', subject: userId, details: { factors, recoveryCodes } });
      return { factors, recoveryCodes };
    });
  }

  private async replaceCodes(trx: DbOrTrx, userId: string, actor: string): Promise<string[]> {
    const codes = newRecoveryCodes();
    await replaceRecoveryCodes(trx, userId, codes.map(hashRecoveryCode), this.clock.now());
    await this.audit.record(trx, { actor, action: 'mfa.recovery_codes_created', subject: userId, details: { count: codes.length } });
    return codes;
  }

  private async checkThrottle(userId: string): Promise<void> {
    const wait = await this.failures.retryAfterMs(userId);
    if (wait > 0)
      throw new GatehouseError('rate_limited', `Too many wrong codes. Wait ${Math.ceil(wait / 60_000)} minutes and try again.`, {
        retryAfterSeconds: Math.ceil(wait / 1000),
      });
  }

  private async enrollment(factorId: string, secret: string, label: string): Promise<TotpEnrollment> {
    const uri = totpUri(secret, this.options.issuerName, label);
    return { factorId, secret: groupedSecret(secret), uri, svg: await qrSvg(uri, `QR code to add ${this.options.issuerName} to your authenticator app`) };
  }
}

/** For tests and the admin: the current time step of the clock. */
export const currentStep = (clock: Clock): number => timeStep(clock.now());
