/**
 * The first admin's way in, from `gatehouse serve` (SPEC 3 manual mode +
 * `admins`): the first start on an empty database prints a one-time invitation
 * link (on stderr, with the banner: stdout is the JSON log, which never holds
 * it); the link opens the invitation page and lets the first admin sign in;
 * later starts print no new link; without `admins` there is none. A first start
 * that never got to listen (port taken) must not burn the link. On SQLite and
 * PostgreSQL.
 *
 * One start is the real program as a child process (the first start on SQLite:
 * the link on stderr and not in the log on stdout, exit 0 on SIGTERM); the
 * others run the same `serve` command in this process (a spawn costs ~2 s of CPU).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { Passwords } from '../../src/identity/passwords.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { binPath, childEnv, cliTimeouts, databaseYaml, freePort, messageLines, stackLine, writeWorkspace, type CliWorkspace } from '../cli/gatehouse.ts';
import { startInProcess } from '../cli/in-process.ts';

vi.setConfig(cliTimeouts);

const redirectUri = 'https://app.example.com/cb';
const appSecret = 'app-secret-0123456789';
const linkPattern = (issuer: string) => new RegExp(`${issuer.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/invite/(gha_[A-Za-z0-9_-]{43})(?=\\s)`, 'g');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `gatehouse serve`, as a child process or in this process. */
interface Serving {
  /** null while it runs. */
  exitCode(): number | null;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** What SIGTERM does (ends it cleanly). */
  terminate(): void;
  /** Only after a failed test: ends it at once. */
  kill(): void;
}

const running = new Set<Serving>();

/** Until `done()` or the process has exited; a start that takes over 120 s fails the test. */
async function waitFor(serving: Serving, done: () => boolean, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!done() && serving.exitCode() === null) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`serve did not start within ${timeoutMs / 1000} s\nstdout: ${serving.stdout()}\nstderr: ${serving.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Gatehouse <version> is running at <issuer>, on stderr. */
const bannerOf = (issuer: string) => ` is running at ${issuer}\n`;

/** The real `gatehouse --config <path> serve` as a child process; resolves once the banner and the link are printed, or when it exits before. */
async function serveChild(ws: CliWorkspace, issuer: string): Promise<Serving> {
  const child = spawn(process.execPath, [binPath, '--config', ws.configPath, 'serve'], { cwd: ws.cwd, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const serving: Serving = {
    exitCode: () => child.exitCode ?? (child.signalCode ? -1 : null),
    stdout: () => out,
    stderr: () => err,
    exited,
    terminate: () => child.kill('SIGTERM'),
    kill: () => child.kill('SIGKILL'),
  };
  running.add(serving);
  void exited.then(() => running.delete(serving));
  await waitFor(serving, () => err.includes(bannerOf(issuer)));
  // Used for a first start only: the link is written right after the banner (same tick), but may arrive in a later chunk.
  await waitFor(serving, () => linkPattern(issuer).test(err), 10_000).catch(() => undefined);
  return serving;
}

/**
 * The same `serve` command in this process (test/cli/in-process.ts captures its
 * stdout and stderr; the JSON log goes to file descriptor 1 directly, so only
 * the child process shows what the log holds). It waits for SIGINT/SIGTERM:
 * `terminate` calls the handlers it added, as the signal would, without
 * signalling this process.
 */
async function serveInProcess(ws: CliWorkspace, issuer: string): Promise<Serving> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const run = startInProcess(['--config', ws.configPath, 'serve']);
  let code: number | null = null;
  const exited = run.result.then((result) => ((code = result.code), { code: result.code, signal: null }));
  /** Returns whether serve was waiting for the signal. */
  const signal = (): boolean => {
    let handled = false;
    for (const name of signals) {
      for (const listener of process.listeners(name).filter((l) => !before.get(name)!.has(l))) {
        process.removeListener(name, listener);
        if (name === 'SIGTERM') (listener as (s: NodeJS.Signals) => void)(name);
        handled = true;
      }
    }
    return handled;
  };
  const terminate = () => {
    if (!signal() && code === null) throw new Error(`serve is running but waits for no SIGTERM\nstderr: ${run.stderr}`);
  };
  const serving: Serving = { exitCode: () => code, stdout: () => run.stdout, stderr: () => run.stderr, exited, terminate, kill: () => void signal() };
  running.add(serving);
  void exited.then(() => running.delete(serving));
  // The banner and the link are written in one synchronous step: once the banner is there, so is any link.
  await waitFor(serving, () => run.stderr.includes(bannerOf(issuer)));
  return serving;
}

async function stop(serving: Serving): Promise<void> {
  serving.terminate();
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`serve did not exit within 60 s of SIGTERM\nstderr: ${serving.stderr()}`)), 60_000).unref(),
  );
  const { code, signal } = await Promise.race([serving.exited, timeout]);
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(serving.stderr()).not.toMatch(stackLine);
}

function configYaml(db: TestDatabase, issuer: string, extra: string[]): string {
  return [
    `issuer: ${issuer}`,
    `database: ${databaseYaml(db)}`,
    'clients:',
    `  - { client_id: app, client_secret: ${appSecret}, client_name: Team App, redirect_uris: [${redirectUri}] }`,
    'firstauth: { enable: true, mode: manual }',
    'log: { level: warn }',
    ...extra,
    '',
  ].join('\n');
}

afterEach(async () => {
  // Only when a test failed half-way: leave no server behind.
  for (const s of running) {
    s.kill();
    await s.exited;
  }
});

describe.each(databaseKinds)("the first admin's invitation from `gatehouse serve` on %s", (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let issuer: string;
  let knex: Db;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    issuer = `http://127.0.0.1:${await freePort()}`;
    ws = writeWorkspace(db, configYaml(db, issuer, ['admins: [admin@example.com]']));
    knex = createKnex(db.config);
  });
  afterAll(async () => {
    await knex?.destroy();
    ws?.cleanup();
    await db?.drop();
  });

  it('prints a one-time invitation link on the first start, which opens the invitation page and lets the first admin in', async () => {
    // The one real child process of this file.
    const first = kind === 'sqlite' ? await serveChild(ws, issuer) : await serveInProcess(ws, issuer);
    expect(first.exitCode()).toBeNull();
    const links = [...first.stderr().matchAll(linkPattern(issuer))];
    expect(links, first.stdout() + first.stderr()).toHaveLength(1);
    const [link, token] = [links[0]![0], links[0]![1]!];
    // Only on stderr for the person who started it, and only the link: the secret is not in the log (stdout).
    expect(first.stdout()).not.toContain(token);
    expect(first.stdout()).not.toContain('gha_');
    expect(messageLines(first.stderr()).filter((line) => line.includes('gha_'))).toEqual([`  ${link}`]);

    const [row] = (await knex('acl_token').where({ kind: 'bootstrap' })) as { id: string; max_users: number; uses: number }[];
    expect(row).toMatchObject({ max_users: 1, uses: 0 });
    expect(
      await knex('acl_token')
        .count<{ n: number | string }[]>({ n: '*' })
        .first()
        .then((r) => Number(r!.n)),
    ).toBe(1);

    // Opening it shows the invitation (and does not use it).
    const browser = new Browserless();
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('You are invited');
    expect(html).toContain('Team App');
    expect(((await knex('acl_token').where({ id: row!.id }).first()) as { uses: number }).uses).toBe(0);

    // The first admin signs in with it (a local account with no user yet) and gets tokens.
    const password = 'first-admin-password';
    await insertLocalAccount(knex, {
      id: `admin-${kind}`,
      email: 'admin@example.com',
      name: 'Admin',
      password_hash: await new Passwords({ queue: 4 }).hash(password),
      email_verified_at: Date.now(),
      created_at: Date.now(),
    });
    const { code, verifier } = await obtainCode(issuer, { clientId: 'app', redirectUri, email: 'admin@example.com', password, browser });
    const tokens = await tokenRequest(
      issuer,
      { client_id: 'app', client_secret: appSecret },
      { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
    );
    expect(tokens.status).toBe(200);
    expect(((await knex('acl_token').where({ id: row!.id }).first()) as { uses: number }).uses).toBe(1);
    // One-time: a second person cannot use the link.
    const again = await fetch(link);
    expect(await again.text()).toContain('used by the maximum number of people');

    await stop(first);
  });

  it('prints no new link on the next start: the bootstrap invitation exists', async () => {
    const second = await serveInProcess(ws, issuer);
    expect(second.exitCode()).toBeNull();
    expect(second.stderr()).toContain(`is running at ${issuer}`);
    expect(second.stdout() + second.stderr()).not.toContain('/invite/');
    expect(second.stdout() + second.stderr()).not.toContain('gha_');
    expect(
      await knex('acl_token')
        .where({ kind: 'bootstrap' })
        .count<{ n: number | string }[]>({ n: '*' })
        .first()
        .then((r) => Number(r!.n)),
    ).toBe(1);
    await stop(second);
  });
});

describe.each(databaseKinds)('no first-admin link from `gatehouse serve` on %s', (kind) => {
  let db: TestDatabase;
  let knex: Db | undefined;
  let ws: CliWorkspace | undefined;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await knex?.destroy();
    ws?.cleanup();
    await db?.drop();
  });

  it('prints no link and makes no invitation when no admins are configured', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    ws = writeWorkspace(db, configYaml(db, issuer, []));
    const serving = await serveInProcess(ws, issuer);
    expect(serving.exitCode()).toBeNull();
    expect(serving.stderr()).toContain(`is running at ${issuer}`);
    expect(serving.stdout() + serving.stderr()).not.toContain('/invite/');
    await stop(serving);
    knex = createKnex(db.config);
    expect(
      await knex('acl_token')
        .count<{ n: number | string }[]>({ n: '*' })
        .first()
        .then((r) => Number(r!.n)),
    ).toBe(0);
  });
});

describe.each(databaseKinds)('a first start of `gatehouse serve` that cannot listen, on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let blocker: Server | undefined;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (blocker?.listening ? blocker.close(() => resolve()) : resolve()));
    ws?.cleanup();
    await db?.drop();
  });

  it('does not spend the one-time link: the next start that does listen prints it', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    ws = writeWorkspace(db, configYaml(db, issuer, ['admins: [admin@example.com]']));
    blocker = createServer();
    await new Promise<void>((resolve, reject) => {
      blocker!.once('error', reject);
      blocker!.listen(port, '127.0.0.1', () => resolve());
    });
    const failed = await serveInProcess(ws, issuer);
    const { code } = await failed.exited;
    expect(code).not.toBe(0);
    expect(failed.stdout() + failed.stderr()).not.toContain('/invite/');
    await new Promise<void>((resolve) => blocker!.close(() => resolve()));

    const serving = await serveInProcess(ws, issuer);
    expect(serving.exitCode()).toBeNull();
    const links = [...serving.stderr().matchAll(linkPattern(issuer))];
    expect(links).toHaveLength(1);
    const page = await fetch(links[0]![0]);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('You are invited');
    await stop(serving);
  });
});

describe.each(databaseKinds)("the first admin's invitation when instances start at the same time, on %s", (kind) => {
  let db: TestDatabase;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    await db?.drop();
  });

  it('makes one bootstrap invitation, however many starts race for it', async () => {
    const config = { clients: [testClients.web], firstauth: { enable: true, mode: 'manual' }, admins: ['admin@example.com'] };
    servers.push(await startTestServer(db, config));
    // Several instances on one database is a PostgreSQL set-up (see modes.test.ts for SQLite in one process).
    if (kind === 'postgres') servers.push(await startTestServer(db, config), await startTestServer(db, config));
    const knex = servers[0]!.gh.db;
    expect(await knex('acl_token').where({ kind: 'bootstrap' })).toHaveLength(1);
    // Back to a first start, then every instance at once.
    await knex('acl_token_client_token').delete();
    await knex('client_token').delete();
    await knex('acl_token').delete();
    const made = await Promise.all(
      Array.from({ length: 6 }, (_, i) => servers[i % servers.length]!.gh.gate.bootstrapInvitation(['admin@example.com'], ['web'])),
    );
    expect(made.filter(Boolean)).toHaveLength(1);
    expect(await knex('acl_token').where({ kind: 'bootstrap' })).toHaveLength(1);
  });
});
