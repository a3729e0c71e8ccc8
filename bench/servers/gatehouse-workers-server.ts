/**
 * Gatehouse with several worker processes, as an operator runs it: the real
 * CLI, `gatehouse --config FILE serve --workers N` (src/cli/commands/serve.ts,
 * node:cluster in src/http/cluster.ts), in a child process of this one.
 * Run: node --import tsx bench/servers/gatehouse-workers-server.ts [--workers=N] (default 2)
 *
 * Before it starts the CLI: a fresh temporary folder (BENCH_DB_DIR honoured,
 * as ./gatehouse-server.ts), a free port picked by the OS, a config file with
 * the bench clients, the local connector and SQLite (logs silent), the
 * migrations, and the bench account. Then it waits for the discovery document
 * to answer, and announces the URL (./announce.ts) as `gatehouse-workers`, with
 * the CLI's pid and the workers' pids (read from its banner on stderr).
 * SIGTERM stops the CLI (which stops its workers) and removes the folder.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { createGatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { benchAccount, clientMetadata } from '../fixtures.ts';
import { announce, stopOnSignal } from './announce.ts';

const workers = Number(process.argv.find((a) => a.startsWith('--workers='))?.slice('--workers='.length) ?? 2);
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const startTimeoutMs = 60_000;

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const dir = await mkdtemp(path.join(process.env.BENCH_DB_DIR ?? os.tmpdir(), 'gatehouse-bench-workers-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const configFile = path.join(dir, 'config.yaml');
// JSON is YAML: the file `gatehouse --config` reads.
await writeFile(
  configFile,
  JSON.stringify(
    {
      issuer: url,
      database: { client: 'sqlite', filename: path.join(dir, 'gh.sqlite') },
      clients: clientMetadata(),
      connectors: [{ id: 'local', type: 'local', name: 'Email' }],
      mailer: { outbox: path.join(dir, 'outbox') },
      log: { level: 'silent' },
    },
    null,
    2,
  ),
);

// The bench account, before the CLI starts (so no first-admin link either).
const gh = createGatehouse(loadConfig(configFile));
await migrateLatest(gh.db);
await gh.users.createLocal({ email: benchAccount.email, password: benchAccount.password }, 'bench');
await gh.close();

const cli = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/main.ts'), '--config', configFile, 'serve', '--workers', String(workers)], {
  cwd: projectRoot,
  stdio: ['ignore', 'ignore', 'pipe'],
  env: process.env,
});
const banner: string[] = [];
let workerPids: number[] = [];
createInterface({ input: cli.stderr! }).on('line', (line) => {
  if (banner.length < 200) banner.push(line);
  const pids = /pids ([\d, ]+)\)/.exec(line)?.[1];
  if (pids) workerPids = pids.split(',').map((p) => Number(p.trim()));
});
const cliExited = new Promise<void>((resolve) => cli.once('exit', () => resolve()));

stopOnSignal(async () => {
  if (cli.exitCode === null && cli.signalCode === null) {
    cli.kill('SIGTERM');
    const timer = setTimeout(() => cli.kill('SIGKILL'), 20_000);
    await cliExited;
    clearTimeout(timer);
  }
  await rm(dir, { recursive: true, force: true });
});

async function ready(): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (cli.exitCode !== null || cli.signalCode !== null) {
      throw new Error(`gatehouse serve --workers ${workers} exited (code ${cli.exitCode}, signal ${cli.signalCode}):\n${banner.join('\n')}`);
    }
    try {
      const res = await fetch(`${url}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      // The banner (with the workers' pids) is printed once every worker listens.
      if (res.status === 200 && workerPids.length === workers) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gatehouse serve --workers ${workers}: not ready within ${startTimeoutMs} ms:\n${banner.join('\n')}`);
}

try {
  await ready();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  cli.kill('SIGTERM');
  await cliExited;
  await rm(dir, { recursive: true, force: true });
  process.exit(1);
}
announce('gatehouse-workers', url, { workers, cliPid: cli.pid, workerPids, configFile });
