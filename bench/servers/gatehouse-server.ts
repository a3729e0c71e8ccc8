/**
 * Gatehouse under test, in its own process: SQLite in a fresh temporary folder,
 * the bench clients, the local connector and one bench account. Prints its URL
 * as a JSON line (see ./announce.ts) and stops on SIGTERM.
 * Run: node --import tsx bench/servers/gatehouse-server.ts
 * BENCH_DB_DIR puts the database elsewhere (e.g. /dev/shm, to tell disk cost from CPU cost).
 * `--first-logins=N` (the first-login workload): firstauth in manual mode, N + 30
 * verified local accounts without a user (first<i>@example.com, one shared
 * password hash), an invitation for bench-web with maxUsers N and a race one with
 * maxUsers 5; both secrets are announced (`firstauth` in the JSON line).
 * `--registration` (the registration workloads): dynamic client registration on
 * (token required, maxClients out of the way) and two registration tokens, one
 * for the timed registrations and one for setting up the rotating clients;
 * announced as `registration` with their ids and the config file, so the driver
 * can read a token's uses with the CLI (`registration-token show ID`).
 * `--devices` (the device workloads): device self-enrollment on (a random
 * HS256 secret, the per-IP limit out of the way) with one device token for any
 * number of devices, announced as `devices`; device codes polled faster than
 * once a second get `slow_down` (security.devicePollInterval).
 * `--mixed=N` (the mixed SQLite workload, ../workloads/mixed-load.ts): manual
 * gating, registration and device enrollment on, N first-time accounts, an
 * invitation, a registration token and a device token (./mixed-seed.ts),
 * announced as `mixed`; warnings and errors are logged (JSON lines on stdout),
 * so the driver can count SQLITE_BUSY in them.
 * The config is written to the temporary folder as a file and loaded from it, as
 * `gatehouse serve` does, so the CLI and the server read the same one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { createGatehouse } from '../../src/context.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { startServer } from '../../src/http/server.ts';
import { tuneHeap } from '../../src/lib/server-memory.ts';
import {
  benchAccount,
  clientMetadata,
  deviceJwtIssuer,
  devicePollInterval,
  deviceRegistrationRateLimit,
  firstLoginPassword,
  raceAccounts,
  raceMaxUsers,
  registrationTokenCount,
  rotatingClientCount,
  webClient,
} from '../fixtures.ts';
import { announce, stopOnSignal } from './announce.ts';
import { mixedLoadConfig, seedMixedLoad } from './mixed-seed.ts';

const firstLogins = Number(process.argv.find((a) => a.startsWith('--first-logins='))?.slice('--first-logins='.length) ?? 0);
const registration = process.argv.includes('--registration');
const devices = process.argv.includes('--devices');
const mixed = Number(process.argv.find((a) => a.startsWith('--mixed='))?.slice('--mixed='.length) ?? 0);
const dir = await mkdtemp(path.join(process.env.BENCH_DB_DIR ?? os.tmpdir(), 'gatehouse-bench-'));
const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const { port } = server.address() as AddressInfo;

const configFile = path.join(dir, 'config.yaml');
// JSON is YAML: the file `gatehouse --config` reads.
await writeFile(
  configFile,
  JSON.stringify(
    {
      issuer: `http://127.0.0.1:${port}`,
      database: { client: 'sqlite', filename: path.join(dir, 'gh.sqlite') },
      clients: clientMetadata(),
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      mailer: { outbox: path.join(dir, 'outbox') },
      log: { level: mixed > 0 ? 'warn' : 'silent' },
      ...(firstLogins > 0 ? { firstauth: { enable: true, mode: 'manual' } } : {}),
      // maxClients is a policy, not what is measured: the timed registrations must never reach it.
      ...(registration ? { registration: { enabled: true, initialAccessToken: 'required', policies: { maxClients: 10_000_000 } } } : {}),
      ...(devices
        ? {
            deviceRegistration: {
              enabled: true,
              jwt: { secret: randomBytes(48).toString('base64url'), issuer: deviceJwtIssuer },
              rateLimit: deviceRegistrationRateLimit,
            },
            security: { devicePollInterval },
          }
        : {}),
      ...(mixed > 0 ? mixedLoadConfig() : {}),
    },
    null,
    2,
  ),
);
// V8's heap growing factor, as bin/gatehouse.js sets it for `gatehouse serve`.
tuneHeap();
const config = loadConfig(configFile);
const gh = createGatehouse(config);
const running = await startServer(gh, server);
await gh.users.createLocal({ email: benchAccount.email, password: benchAccount.password }, 'bench');

let extra: Record<string, unknown> = {};
if (firstLogins > 0) {
  // People who have never signed in: a verified local account, no user yet. One hash for all (argon2 is slow on purpose).
  const passwordHash = await gh.passwords.hash(firstLoginPassword);
  const now = Date.now();
  await gh.db.transaction(async (trx) => {
    for (let i = 0; i < firstLogins + raceAccounts; i += 1) {
      await insertLocalAccount(trx, {
        id: `bench-${i}`,
        email: `first${i}@example.com`,
        name: null,
        password_hash: passwordHash,
        email_verified_at: now,
        created_at: now,
      });
    }
  });
  const main = await gh.aclTokens.create({ maxUsers: firstLogins, clients: [webClient.client_id] }, 'bench');
  const race = await gh.aclTokens.create({ maxUsers: raceMaxUsers, clients: [webClient.client_id] }, 'bench');
  extra = { firstauth: { token: main.token, raceToken: race.token, accounts: firstLogins } };
}

if (registration) {
  const expiresAt = Date.now() + 86_400_000;
  const timed = await gh.registrationTokens.create(
    { count: registrationTokenCount, expiresAt, template: null, description: 'bench: timed registrations' },
    'bench',
  );
  const setup = await gh.registrationTokens.create({ count: rotatingClientCount, expiresAt, template: null, description: 'bench: rotating clients' }, 'bench');
  extra = { registration: { configFile, token: timed.token, tokenId: timed.row.id, count: registrationTokenCount, setupToken: setup.token } };
}

if (devices) {
  // Minted in process, as `gatehouse device-token create --max-devices 0 --expires 1d` would from the same config.
  const made = await gh.devices.createToken({ expiresAt: Date.now() + 86_400_000, maxDevices: 0, description: 'bench: register-device' }, 'bench');
  extra = { ...extra, devices: { configFile, token: made.token, tokenId: made.row.id } };
}

if (mixed > 0) extra = { ...extra, mixed: await seedMixedLoad(gh, running.url, mixed) };

stopOnSignal(async () => {
  await running.stop();
  await rm(dir, { recursive: true, force: true });
});
announce(mixed > 0 ? 'gatehouse-mixed' : firstLogins > 0 ? 'gatehouse-firstauth' : 'gatehouse', running.url, extra);
