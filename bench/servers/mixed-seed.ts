/**
 * What the mixed SQLite workload (../workloads/mixed-load.ts) needs on one
 * Gatehouse: manual gating (so a first login redeems an invitation), dynamic
 * registration with a counted token, device self-enrollment with a device
 * token, and `accounts` verified local accounts that have never signed in.
 * Used by the bench server (`--mixed=N`) and by the short version in the tests
 * (test/storage/sqlite-mixed-load.test.ts), so both run the same setup.
 */
import { randomBytes } from 'node:crypto';
import type { Gatehouse } from '../../src/context.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { clientMetadata, deviceJwtIssuer, deviceRegistrationRateLimit, firstLoginPassword, registrationTokenCount, webClient } from '../fixtures.ts';
import type { MixedServer } from '../workloads/mixed-load.ts';

/** The config keys the workload needs (beside issuer, database and log). */
export function mixedLoadConfig(): Record<string, unknown> {
  return {
    clients: clientMetadata(),
    connectors: [{ id: 'local', type: 'local', name: 'Email' }],
    firstauth: { enable: true, mode: 'manual' },
    // maxClients is a policy, not what is measured: the registrations must never reach it.
    registration: { enabled: true, initialAccessToken: 'required', policies: { maxClients: 10_000_000 } },
    deviceRegistration: {
      enabled: true,
      jwt: { secret: randomBytes(48).toString('base64url'), issuer: deviceJwtIssuer },
      rateLimit: deviceRegistrationRateLimit,
    },
  };
}

/** Accounts first0 .. first<accounts-1>, an invitation for all of them, a registration token and a device token. */
export async function seedMixedLoad(gh: Gatehouse, url: string, accounts: number): Promise<MixedServer> {
  // One hash for every account: argon2 is slow on purpose, and what is measured is signing in, not seeding.
  const passwordHash = await gh.passwords.hash(firstLoginPassword);
  const now = Date.now();
  await gh.db.transaction(async (trx) => {
    for (let i = 0; i < accounts; i += 1) {
      await insertLocalAccount(trx, {
        id: `mixed-${i}`,
        email: `first${i}@example.com`,
        name: null,
        password_hash: passwordHash,
        email_verified_at: now,
        created_at: now,
      });
    }
  });
  const invitation = await gh.aclTokens.create({ maxUsers: accounts, clients: [webClient.client_id] }, 'bench');
  const registration = await gh.registrationTokens.create(
    { count: registrationTokenCount, expiresAt: now + 86_400_000, template: null, description: 'bench: mixed load' },
    'bench',
  );
  const device = await gh.devices.createToken({ expiresAt: now + 86_400_000, maxDevices: 0, description: 'bench: mixed load' }, 'bench');
  return { url, invitation: invitation.token, accounts, registrationToken: registration.token, deviceToken: device.token };
}
