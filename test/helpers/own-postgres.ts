/**
 * A PostgreSQL server of the test's own, for tests that stop and start it (a
 * database outage): its own data directory in a temp dir and its own free
 * port, never the machine's shared server at 5432. initdb and pg_ctl refuse to
 * run as root, so as root they run as the `postgres` user, which then owns the
 * temp dir.
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestDatabase } from './databases.ts';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface OwnPostgres {
  /** A TestDatabase on this server's `postgres` database, for startTestServer. */
  database: TestDatabase;
  /** `pg_ctl stop -m fast`: open connections are ended (SQLSTATE 57P01), new ones refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startOwnPostgres(binDir: string): Promise<OwnPostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-own-pg-'));
  const data = path.join(dir, 'data');
  // Gatehouse's own files (the mail outbox) live apart from the server's.
  const filesDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgTool = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(binDir, tool), ...args]) : run(path.join(binDir, tool), args);
  const port = await freePort();
  await pgTool('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  // Loopback only, the socket in the temp dir, no fsync: a throwaway server that starts in a second.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c full_page_writes=off`;
  const start = async () => {
    await pgTool('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
  };
  const stop = async () => {
    await pgTool('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
  };
  await start();
  let running = true;
  return {
    database: {
      kind: 'postgres',
      dir: filesDir,
      config: { client: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/postgres` },
      async drop() {},
    },
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      rmSync(filesDir, { recursive: true, force: true });
    },
  };
}
