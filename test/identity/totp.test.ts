/**
 * The second-factor domain (identity/mfa/) on SQLite and PostgreSQL, on the
 * injected clock: TOTP window edges (−1/0/+1 accepted, ±2 refused), each code
 * once (also under parallel requests: exactly one wins), enrollment confirmed
 * by a first code, recovery codes single-use (audited, mailed), wrong codes
 * throttled per account, the admin reset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { isGatehouseError } from '../../src/errors.ts';

const step = 30_000;

describe.each(databaseKinds)('TOTP and recovery codes on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  // The middle of a time step, far from the wall clock's: only the injected clock counts.
  let now = Math.floor(Date.UTC(2030, 0, 1) / step) * step + 15_000;
  const clock = { now: () => now };
  let counter = 0;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { connectors: [{ id: 'local', type: 'local', name: 'Email' }] }, { clock });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const mfa = () => server.gh.mfa;
  const plainSecret = (grouped: string) => grouped.replace(/\s+/g, '');

  async function enrolled(): Promise<{ userId: string; secret: string; recoveryCodes: string[] }> {
    counter += 1;
    const userId = (await server.gh.users.createLocal({ email: `totp-${kind}-${counter}@example.com`, name: 'T', password: 'a-long-password-1' }, 'test')).id;
    const enrollment = await mfa().startTotp(userId, 'me');
    const secret = plainSecret(enrollment.secret);
    expect(enrollment.svg).toMatch(/^<svg role="img" aria-label="[^"]+"/);
    expect(enrollment.svg).not.toContain('style=');
    expect(enrollment.uri).toContain('otpauth://totp/');
    expect(await mfa().hasFactor(userId)).toBe(false);
    const { recoveryCodes } = await mfa().confirmTotp(userId, enrollment.factorId, await totpCode(secret, timeStep(now)));
    expect(recoveryCodes).toHaveLength(10);
    expect(await mfa().hasFactor(userId)).toBe(true);
    // The enrollment's step is spent (and every one before it): move on two steps for the tests.
    now += 2 * step;
    return { userId, secret, recoveryCodes: recoveryCodes! };
  }

  const refused = async (p: Promise<unknown>, code: string) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatehouseError(err, code as never), String(err)).toBe(true);
  };

  it('accepts the codes of the steps −1, 0 and +1 on the injected clock, refuses ±2', async () => {
    const { userId, secret } = await enrolled();
    const current = timeStep(now);
    await refused(mfa().verifyTotp(userId, await totpCode(secret, current - 2)), 'input.invalid');
    await refused(mfa().verifyTotp(userId, await totpCode(secret, current + 2)), 'input.invalid');
    await expect(mfa().verifyTotp(userId, await totpCode(secret, current - 1))).resolves.toMatchObject({ amr: ['otp'] });
    await expect(mfa().verifyTotp(userId, await totpCode(secret, current))).resolves.toMatchObject({ amr: ['otp'] });
    await expect(mfa().verifyTotp(userId, await totpCode(secret, current + 1))).resolves.toMatchObject({ amr: ['otp'] });
    // +1 was used: the step before it (and it again) are refused.
    await refused(mfa().verifyTotp(userId, await totpCode(secret, current + 1)), 'input.invalid');
    await refused(mfa().verifyTotp(userId, await totpCode(secret, current)), 'input.invalid');
  });

  it('accepts a code once, also when the same code arrives in parallel', async () => {
    const { userId, secret } = await enrolled();
    const code = await totpCode(secret, timeStep(now));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => mfa().verifyTotp(userId, code)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await refused(mfa().verifyTotp(userId, code), 'input.invalid');
    now += step;
    await expect(mfa().verifyTotp(userId, await totpCode(secret, timeStep(now)))).resolves.toBeTruthy();
  });

  it('refuses an enrollment with a wrong first code, keeping it open', async () => {
    counter += 1;
    const userId = (await server.gh.users.createLocal({ email: `wrong-${kind}-${counter}@example.com`, name: 'W', password: 'a-long-password-1' }, 'test')).id;
    const enrollment = await mfa().startTotp(userId, 'me');
    await refused(mfa().confirmTotp(userId, enrollment.factorId, '000000'), 'input.invalid');
    expect(await mfa().hasFactor(userId)).toBe(false);
    const secret = plainSecret(enrollment.secret);
    await mfa().confirmTotp(userId, enrollment.factorId, await totpCode(secret, timeStep(now)));
    expect(await mfa().factors(userId)).toMatchObject([{ kind: 'totp', name: 'Authenticator app' }]);
  });

  it('uses a recovery code once, audits and mails it', async () => {
    const { userId, recoveryCodes } = await enrolled();
    const code = recoveryCodes[3]!;
    const results = await Promise.allSettled([mfa().useRecoveryCode(userId, code), mfa().useRecoveryCode(userId, code.toUpperCase())]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await refused(mfa().useRecoveryCode(userId, code), 'input.invalid');
    expect(await mfa().recoveryCodes(userId)).toEqual({ total: 10, unused: 9 });
    const audit = await server.gh.db('audit_log').where({ action: 'mfa.recovery_code_used', subject: userId });
    expect(audit).toHaveLength(1);
    const mails = await server.gh.db('mail_outbox').where('subject', 'like', 'A recovery code was used%');
    expect(
      mails.some((m: { to_address?: string; recipient?: string; to?: string; text?: string }) => JSON.stringify(m).includes(`totp-${kind}-${counter}@`)),
    ).toBe(true);
    // New codes replace the old ones.
    const fresh = await mfa().newRecoveryCodes(userId, userId);
    await refused(mfa().useRecoveryCode(userId, recoveryCodes[4]!), 'input.invalid');
    await expect(mfa().useRecoveryCode(userId, fresh[0]!)).resolves.toMatchObject({ amr: ['otp'], left: 9 });
  });

  it('throttles wrong codes per account: 5 in 15 minutes, then even the right code waits', async () => {
    const { userId, secret } = await enrolled();
    for (let i = 0; i < 5; i += 1) await refused(mfa().verifyTotp(userId, '000000'), 'input.invalid');
    await refused(mfa().verifyTotp(userId, await totpCode(secret, timeStep(now))), 'rate_limited');
    now += 16 * 60_000;
    await expect(mfa().verifyTotp(userId, await totpCode(secret, timeStep(now)))).resolves.toBeTruthy();
  });

  it('reset removes every factor and recovery code, audited', async () => {
    const { userId } = await enrolled();
    await expect(mfa().reset(userId, 'admin@example.com')).resolves.toEqual({ factors: 1, recoveryCodes: 10 });
    expect(await mfa().hasFactor(userId)).toBe(false);
    expect(await server.gh.db('audit_log').where({ action: 'mfa.reset', subject: userId })).toHaveLength(1);
  });
});
