/**
 * `gatehouse serve --workers N` as a child process (SPEC 9): two workers on one
 * OS-picked port behind one primary, on SQLite and PostgreSQL. Discovery
 * answers; connections are spread over both workers (each worker's /metrics
 * carries its `worker` label, which production has too: no test-only path); a
 * registration token for 5 raced by 20 registrations over fresh connections
 * registers exactly 5 across the workers; mail queued before the start, raced
 * by both workers' senders, is sent exactly once each; a worker killed with
 * SIGKILL is replaced and the service keeps answering; SIGTERM to the primary
 * stops every process with exit code 0 and no stack trace. Also: a worker that
 * cannot listen (port taken) stops the start with its message, once; two
 * senders on one database in one process race for the same mail and send each
 * once; `--workers 0` and `--workers lots` are usage errors (exit 64).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { createServer, type Server } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { enqueueMail } from '../../src/db/repos/mail-outbox.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { count, serviceMetadata, usesOf } from '../helpers/registration.ts';
import { buildConfig } from '../helpers/server.ts';
import {
  binPath,
  childEnv,
  cliTimeouts,
  type CliWorkspace,
  databaseYaml,
  freePort,
  messageLines,
  runGatehouse,
  stackLine,
  writeWorkspace,
} from './gatehouse.ts';

vi.setConfig(cliTimeouts);

/** Fewer than a sender takes in one pass (50), so both workers' first passes go through all of them at once. */
const mails = 40;

interface LogRecord {
  msg?: string;
  pid?: number;
  worker?: number;
  workerId?: number;
  workerPid?: number;
  mailId?: number;
  [key: string]: unknown;
}

/** One request on a connection of its own (no keep-alive pool), so cluster hands each to the next worker. */
function freshRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: { connection: 'close', ...options.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 10_000} ms`)));
    req.end(options.body);
  });
}

/** The worker labels seen on /metrics over `n` fresh connections. */
async function workersAnswering(issuer: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const { status, body } = await freshRequest(`${issuer}/metrics`);
    expect(status).toBe(200);
    const label = /worker="(\d+)"/.exec(body)?.[1];
    expect(label, 'every series of a worker carries its worker label').toBeDefined();
    seen.add(label!);
  }
  return seen;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.each(databaseKinds)('gatehouse serve --workers 2 on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let issuer: string;
  let outbox: string;
  let gh: Gatehouse;
  let child: ChildProcessWithoutNullStreams | undefined;
  let stdout = '';
  let stderr = '';
  let banner = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let token: { id: string; token: string };
  const pids = new Set<number>();
  let victim: number | undefined;

  const records = (): LogRecord[] =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogRecord);

  /** Waits until `done` holds, checked at each line the child writes (an event, not a clock); fails when it exits first or after `ms`. */
  async function until(what: string, done: () => boolean, ms = 60_000): Promise<void> {
    if (done()) return;
    const running = child!;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(guard);
        running.stdout!.off('data', check);
        running.stderr!.off('data', check);
        running.off('exit', exitedFirst);
      };
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const exitedFirst = (code: number | null) => {
        cleanup();
        reject(new Error(`serve exited with ${code} while waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`));
      };
      const guard = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} within ${ms / 1000} s\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, ms);
      // Registered after the listeners that collect the output, so `done` sees the new chunk.
      running.stdout!.on('data', check);
      running.stderr!.on('data', check);
      running.on('exit', exitedFirst);
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    outbox = path.join(db.dir, 'outbox');
    ws = writeWorkspace(
      db,
      [
        `issuer: ${issuer}`,
        `database: ${databaseYaml(db)}`,
        'clients:',
        '  - { client_id: app, client_secret: app-secret-0123456789, client_name: App, redirect_uris: [https://app.example.com/cb] }',
        'registration: { enabled: true }',
        `mailer: { outbox: ${JSON.stringify(outbox)} }`,
        // info: the workers' start, death and mail lines are checked as JSON.
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    // Before the start: the schema, a registration token for 5 and mail both workers' senders find at once.
    gh = createGatehouse(buildConfig({ issuer, registration: { enabled: true } }, db), { logger: createLogger('silent') });
    await migrateLatest(gh.db);
    const made = await gh.registrationTokens.create({ count: 5, expiresAt: Date.now() + 3_600_000 }, 'test');
    token = { id: made.row.id, token: made.token };
    for (let i = 0; i < mails; i++) await enqueueMail(gh.db, { to: `user${i}@example.com`, subject: `mail ${i}`, text: `number ${i}`, html: null }, Date.now());
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await gh?.close();
    ws?.cleanup();
    await db?.drop();
  });

  it('starts two workers on one port and prints one banner naming them', async () => {
    child = spawn(process.execPath, [binPath, '--config', ws.configPath, 'serve', '--workers', '2'], {
      cwd: ws.cwd,
      env: childEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    exited = new Promise((resolve) => child!.on('exit', (code, signal) => resolve({ code, signal })));
    // The banner (stderr) and each worker's own line (stdout) come on two pipes: wait for all three.
    await until('the banner and two workers listening', () => /logs: .*\n/.test(stderr) && records().filter((r) => r.msg === 'worker listening').length >= 2);
    banner = stderr;

    const started = records().filter((r) => r.msg === 'worker listening');
    expect(started).toHaveLength(2);
    for (const r of started) pids.add(r.workerPid!);
    expect(pids.size).toBe(2);
    const lines = messageLines(banner).map((line) => line.replace(/\s+/g, ' ').trim());
    expect(lines.filter((line) => line.startsWith('Gatehouse '))).toHaveLength(1);
    const row = lines.find((line) => line.startsWith('workers: '));
    expect(row).toMatch(new RegExp(`^workers: 2 processes on one port \\(pids \\d+, \\d+\\); this one \\(pid ${child.pid}\\) replaces any that dies$`));
    expect(new Set(/pids (\d+), (\d+)/.exec(row!)!.slice(1).map(Number))).toEqual(pids);
    expect(lines).toContain(`discovery: ${issuer}/.well-known/openid-configuration`);
    expect(banner).not.toMatch(stackLine);
  });

  it('answers discovery, from both workers', async () => {
    const discovery = await freshRequest(`${issuer}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect((JSON.parse(discovery.body) as { issuer: string }).issuer).toBe(issuer);
    expect(await workersAnswering(issuer, 10)).toEqual(new Set(['1', '2']));
  });

  it('registers exactly 5 clients with a token for 5 raced by 20 registrations over fresh connections', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        freshRequest(`${issuer}/reg`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(serviceMetadata({ client_name: `racer ${i}` })),
        }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 401).map((a) => (JSON.parse(a.body) as { error: string }).error)).toEqual(Array(15).fill('invalid_token'));
    expect(await usesOf(gh, token.id)).toBe(5);
    expect(await count(gh, 'registered_client', { registration_token_id: token.id })).toBe(5);
    expect(await count(gh, 'oidc_model', { kind: 'Client' })).toBe(5);
  });

  it('sends each mail queued before the start exactly once, though both workers send', async () => {
    await until('all mail sent', () => records().filter((r) => r.msg === 'mail written to outbox (no SMTP host configured)').length >= mails, 30_000);
    const sent = records().filter((r) => r.msg === 'mail written to outbox (no SMTP host configured)');
    expect(sent).toHaveLength(mails);
    expect(new Set(sent.map((r) => r.mailId)).size).toBe(mails);
    expect(readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toHaveLength(mails);
    // A mail is written, then marked sent in the database: the last marks may trail the last log line.
    await vi.waitFor(async () => expect(await count(gh, 'mail_outbox', { status: 'sent' })).toBe(mails), { timeout: 10_000, interval: 25 });
  });

  it('replaces a worker killed with SIGKILL, and keeps answering meanwhile', async () => {
    const [first, second] = records().filter((r) => r.msg === 'worker listening');
    victim = first!.workerPid!;
    process.kill(victim, 'SIGKILL');
    // The other worker answers while the replacement starts. A connection the primary handed to the victim just
    // as it died is lost with it (node:cluster), so this client retries once after a short timeout, as a balancer would.
    const health = await freshRequest(`${issuer}/healthz`, { timeoutMs: 1000 }).catch(() => freshRequest(`${issuer}/healthz`, { timeoutMs: 1000 }));
    expect(health.status).toBe(200);
    await until('a replacement worker', () => records().filter((r) => r.msg === 'worker listening').length === 3);
    const died = records().find((r) => r.msg === 'worker died unexpectedly; a replacement starts after the backoff');
    expect(died).toMatchObject({ workerPid: victim, signal: 'SIGKILL', level: 50 });
    expect(died!.restartInMs).toBeGreaterThan(0);
    const replacement = records().filter((r) => r.msg === 'worker listening')[2]!;
    expect(pids.has(replacement.workerPid!)).toBe(false);
    pids.add(replacement.workerPid!);
    expect(alive(victim)).toBe(false);
    const answering = await workersAnswering(issuer, 10);
    expect(answering).toEqual(new Set([String(second!.workerId), String(replacement.workerId)]));
    expect((await freshRequest(`${issuer}/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('stops every worker on SIGTERM to the primary and exits 0 without a stack trace', async () => {
    child!.kill('SIGTERM');
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`serve did not exit within 30 s of SIGTERM\nstderr: ${stderr}`)), 30_000).unref(),
    );
    const { code, signal } = await Promise.race([exited, timeout]);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(stderr).not.toMatch(stackLine);
    expect(messageLines(stderr.slice(banner.length))).toEqual([]);
    for (const pid of pids) expect(alive(pid), `worker ${pid} is gone`).toBe(false);
    const stopped = records().filter((r) => r.msg === 'worker shutting down');
    expect(stopped.map((r) => r.pid).sort()).toEqual([...pids].filter((pid) => pid !== victim).sort());
    expect(records().some((r) => r.msg === 'shutting down' && r.pid === child!.pid)).toBe(true);
    await expect(freshRequest(`${issuer}/healthz`)).rejects.toThrow();
  });
});

describe('gatehouse serve --workers: failures', () => {
  let db: TestDatabase;
  let taken: Server;
  let ws: CliWorkspace;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const { port } = taken.address() as { port: number };
    ws = writeWorkspace(db, [`issuer: http://127.0.0.1:${port}`, `database: ${databaseYaml(db)}`, ''].join('\n'));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
    ws?.cleanup();
    await db?.drop();
  });

  it('refuses --workers 0 and --workers lots as usage errors (exit 64) with a message', async () => {
    const values = ['0', 'lots'];
    const results = await Promise.all(values.map((value) => runGatehouse(['--config', ws.configPath, 'serve', '--workers', value], { cwd: ws.cwd })));
    results.forEach((result, i) => {
      expect(result.code).toBe(64);
      expect(messageLines(result.stderr)).toEqual([
        `gatehouse: option '--workers <N|auto>' argument '${values[i]}' is invalid. --workers takes a whole number from 1 to 256, or auto (the cores available here: ${availableParallelism()}).`,
      ]);
    });
  });

  it('stops the start when the workers cannot listen (port taken): the message once, exit 70, no restart loop', async () => {
    const result = await runGatehouse(['--config', ws.configPath, 'serve', '--workers', '2'], { cwd: ws.cwd, timeoutMs: 60_000 });
    expect(result.code).toBe(70);
    expect(messageLines(result.stderr)).toEqual([expect.stringMatching(/^gatehouse: unexpected error: bind EADDRINUSE 127\.0\.0\.1:\d+$/)]);
    expect(result.stderr).not.toMatch(stackLine);
    expect(result.stdout).not.toContain('worker died');
  });
});

describe.each(databaseKinds)('two mail senders on one %s database', (kind) => {
  let db: TestDatabase;
  const instances: Gatehouse[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const gh of instances) await gh.close();
    await db?.drop();
  });

  it('send each mail once when both go through the same due mail at the same moment', async () => {
    // Two contexts = two connection pools, as two workers (or instances) have; no SMTP host: each sent mail is one .eml file.
    for (let i = 0; i < 2; i++) instances.push(createGatehouse(buildConfig({ issuer: 'http://127.0.0.1:9' }, db), { logger: createLogger('silent') }));
    const [a, b] = instances as [Gatehouse, Gatehouse];
    await migrateLatest(a.db);
    for (let i = 0; i < mails; i++) await enqueueMail(a.db, { to: `user${i}@example.com`, subject: `mail ${i}`, text: `number ${i}`, html: null }, Date.now());
    let sent = { a: 0, b: 0 };
    // Both passes see the same due rows (sendDue lists 50 at a time); each claim is a conditional write, so one wins.
    while ((await count(a, 'mail_outbox', { status: 'pending' })) > 0) {
      const [fromA, fromB] = await Promise.all([a.sender.sendDue(), b.sender.sendDue()]);
      sent = { a: sent.a + fromA, b: sent.b + fromB };
    }
    expect(sent.a + sent.b).toBe(mails);
    const files = readdirSync(a.config.mailer.outbox).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(mails);
    expect(await count(a, 'mail_outbox', { status: 'sent' })).toBe(mails);
  });
});
