/**
 * The question every sign-in asks of the second-factor tables (db/repos/mfa.ts
 * `hasFactorOrRequirement`, one read): yes with an enrolled factor or a
 * requirement row, no without either, and a factor still waiting for its first
 * code does not count. On SQLite and PostgreSQL (booleans come back as 0/1 on
 * one and true/false on the other).
 */
import { describe, expect, it } from 'vitest';
import { hasFactorOrRequirement, insertFactor, setRequirement } from '../../src/db/repos/mfa.ts';
import { insertUser } from '../../src/db/repos/users.ts';
import { databaseKinds, useMigratedDatabase, type DatabaseKind } from '../helpers/databases.ts';

describe.each(databaseKinds)('does this person give a second factor at every sign-in, on %s', (kind: DatabaseKind) => {
  const { db } = useMigratedDatabase(kind);
  const user = async (id: string) =>
    insertUser(db(), { id, email: `${id}@example.com`, email_verified: true, name: null, status: 'active', created_at: 1, last_login_at: null });
  const factor = (id: string, userId: string, confirmedAt: number | null) =>
    insertFactor(db(), { id, user_id: userId, kind: 'totp', name: 'phone', secret: 'x', credential_id: null, created_at: 1, confirmed_at: confirmedAt });

  it('says yes for an enrolled factor or a requirement, no for neither or a factor not yet confirmed', async () => {
    await Promise.all(['none', 'enrolled', 'required', 'pending'].map(user));
    await factor('f1', 'enrolled', 2);
    await setRequirement(db(), 'required', 'invitation', null, 3);
    await factor('f2', 'pending', null);
    expect(await hasFactorOrRequirement(db(), 'none')).toBe(false);
    expect(await hasFactorOrRequirement(db(), 'enrolled')).toBe(true);
    expect(await hasFactorOrRequirement(db(), 'required')).toBe(true);
    expect(await hasFactorOrRequirement(db(), 'pending')).toBe(false);
    expect(await hasFactorOrRequirement(db(), 'nobody')).toBe(false);
  });
});
