/**
 * The baseline under test, in its own process: bare oidc-provider (in-memory
 * adapter) plus minimal interaction routes (../baseline/). Prints its URL as a
 * JSON line (see ./announce.ts) and stops on SIGTERM.
 * Run: node --import tsx bench/servers/baseline-server.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import argon2 from 'argon2';
import { baselineInteractions } from '../baseline/interactions.ts';
import { createBaselineProvider } from '../baseline/provider.ts';
import { argon2Params, benchAccount } from '../fixtures.ts';
import { announce, stopOnSignal } from './announce.ts';

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const { port } = server.address() as AddressInfo;
const issuer = `http://127.0.0.1:${port}`;

const passwordHash = await argon2.hash(benchAccount.password, { type: argon2.argon2id, ...argon2Params });
const provider = await createBaselineProvider(issuer, benchAccount.email);
const routes = baselineInteractions(provider, benchAccount.email, passwordHash);
provider.use(routes.routes());
provider.use(routes.allowedMethods());
server.on('request', provider.callback());

stopOnSignal(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
announce('baseline', issuer);
