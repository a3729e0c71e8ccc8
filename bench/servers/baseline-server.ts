/**
 * The baseline under test, in its own process: bare oidc-provider plus minimal
 * interaction routes (../baseline/). Prints its URL as a JSON line (see
 * ./announce.ts) and stops on SIGTERM.
 * Run: node --import tsx bench/servers/baseline-server.ts [--durable]
 * Without flags: oidc-provider's in-memory adapter (../baseline/adapter.ts),
 * announced as `baseline`. `--durable`: the same provider, same config, on a
 * minimal SQLite adapter (../baseline/durable-adapter.ts) in a fresh temporary
 * file, announced as `durable`; BENCH_DB_DIR puts the file elsewhere, as for
 * Gatehouse (./gatehouse-server.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import argon2 from 'argon2';
import { durableStore, type DurableStore } from '../baseline/durable-adapter.ts';
import { baselineInteractions } from '../baseline/interactions.ts';
import { createBaselineProvider } from '../baseline/provider.ts';
import { argon2Params, benchAccount } from '../fixtures.ts';
import { announce, stopOnSignal } from './announce.ts';

const durable = process.argv.includes('--durable');
const dir = durable ? await mkdtemp(path.join(process.env.BENCH_DB_DIR ?? os.tmpdir(), 'durable-bench-')) : undefined;
const store: DurableStore | undefined = dir ? durableStore(path.join(dir, 'baseline.sqlite')) : undefined;

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const { port } = server.address() as AddressInfo;
const issuer = `http://127.0.0.1:${port}`;

const passwordHash = await argon2.hash(benchAccount.password, { type: argon2.argon2id, ...argon2Params });
const provider = await createBaselineProvider(issuer, benchAccount.email, store?.adapter);
const routes = baselineInteractions(provider, benchAccount.email, passwordHash);
provider.use(routes.routes());
provider.use(routes.allowedMethods());
server.on('request', provider.callback());

stopOnSignal(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
announce(durable ? 'durable' : 'baseline', issuer, dir ? { database: path.join(dir, 'baseline.sqlite') } : {});
