/**
 * Gatehouse under test, in its own process: SQLite in a fresh temporary folder,
 * the bench clients, the local connector and one bench account. Prints its URL
 * as a JSON line (see ./announce.ts) and stops on SIGTERM.
 * Run: node --import tsx bench/servers/gatehouse-server.ts
 * BENCH_DB_DIR puts the database elsewhere (e.g. /dev/shm, to tell disk cost from CPU cost).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../../src/config/schema.ts';
import { createGatehouse } from '../../src/context.ts';
import { startServer } from '../../src/http/server.ts';
import { benchAccount, clientMetadata } from '../fixtures.ts';
import { announce, stopOnSignal } from './announce.ts';

const dir = await mkdtemp(path.join(process.env.BENCH_DB_DIR ?? os.tmpdir(), 'gatehouse-bench-'));
const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const { port } = server.address() as AddressInfo;

const config = {
  ...configSchema.parse({
    issuer: `http://127.0.0.1:${port}`,
    database: { client: 'sqlite', filename: path.join(dir, 'gh.sqlite') },
    clients: clientMetadata(),
    connectors: [{ id: 'local', type: 'local', name: 'Email' }],
    mailer: { outbox: path.join(dir, 'outbox') },
    log: { level: 'silent' },
  }),
  baseDir: dir,
};
const gh = createGatehouse(config);
const running = await startServer(gh, server);
await gh.users.createLocal({ email: benchAccount.email, password: benchAccount.password }, 'bench');

stopOnSignal(async () => {
  await running.stop();
  await rm(dir, { recursive: true, force: true });
});
announce('gatehouse', running.url);
