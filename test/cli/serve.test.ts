/**
 * `gatehouse serve` as a child process, the way it is deployed: on a fresh
 * database it migrates, says where it runs and what is on (on stderr: stdout is
 * JSON log lines only), answers /healthz and /readyz, serves discovery for its
 * issuer, and on SIGTERM shuts down cleanly with exit code 0.
 * On SQLite and PostgreSQL.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { binPath, childEnv, cliTimeouts, type CliWorkspace, databaseYaml, freePort, messageLines, stackLine, writeWorkspace } from './gatehouse.ts';

const deviceSecret = 'd'.repeat(48);

vi.setConfig(cliTimeouts);

describe.each(databaseKinds)('gatehouse serve on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let issuer: string;
  let child: ChildProcessWithoutNullStreams | undefined;
  let stdout = '';
  let stderr = '';
  /** What stderr held once the server was up: the banner (and oidc-provider's runtime warning). */
  let banner = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    ws = writeWorkspace(
      db,
      [
        `issuer: ${issuer}`,
        `database: ${databaseYaml(db)}`,
        'clients:',
        '  - { client_id: app, client_secret: app-secret-0123456789, client_name: App, redirect_uris: [https://app.example.com/cb] }',
        'firstauth: { enable: true, mode: manual }',
        'registration: { enabled: true }',
        'deviceRegistration: { enabled: true, jwt: { secret: "${DEVICE_JWT_SECRET}", issuer: example.com } }',
        'compat: { keycloak: { realm: acme } }',
        // info: the start-up log lines are there to be checked as JSON.
        'log: { level: info }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    // Only if a test failed before SIGTERM: do not leave a server behind.
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    ws?.cleanup();
    await db?.drop();
  });

  it('starts, migrates the empty database and says on stderr where it runs and what is on', async () => {
    child = spawn(process.execPath, [binPath, '--config', ws.configPath, 'serve'], {
      cwd: ws.cwd,
      env: childEnv({ DEVICE_JWT_SECRET: deviceSecret }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    exited = new Promise((resolve) => child!.on('exit', (code, signal) => resolve({ code, signal })));

    const started = Date.now();
    while (!/logs: .*\n/.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}\nstdout: ${stdout}\nstderr: ${stderr}`);
      if (Date.now() - started > 120_000) throw new Error(`serve did not start within 120 s\nstdout: ${stdout}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The banner is one write, so the note after the last row (on a Node.js oidc-provider warns about) came with it.
    banner = stderr;
    const lines = messageLines(banner).map((line) => line.replace(/\s+/g, ' ').trim());
    expect(lines[0]).toMatch(new RegExp(`^Gatehouse \\d+\\.\\d+\\.\\d+\\S* is running at ${issuer}$`));
    expect(lines).toEqual(
      expect.arrayContaining([
        `discovery: ${issuer}/.well-known/openid-configuration`,
        'gating: manual (firstauth.mode)',
        `registration: on at ${issuer}/reg (a registration token is required)`,
        `device enrolment: on at ${issuer}/api/register-device`,
        `keycloak realm: acme, issuer ${issuer}/realms/acme`,
        `workers: 1 process (pid ${child.pid}; --workers N|auto for more)`,
        'logs: JSON lines on stdout (log.level info)',
      ]),
    );
    const warned = banner.includes('oidc-provider WARNING: Unsupported runtime');
    expect(lines.some((line) => line.startsWith('note: ') && line.includes('"Unsupported runtime" warning above is expected'))).toBe(warned);
    expect(stdout).not.toContain('Gatehouse is running');
  });

  it('answers /healthz and /readyz with 200', async () => {
    const health = await fetch(`${issuer}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    // Ready means the database answers and no migration is pending: serve ran them first.
    const ready = await fetch(`${issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', limits: { store: 'database', ok: true } });
  });

  it('serves discovery for the configured issuer', async () => {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as { issuer: string; jwks_uri: string };
    expect(discovery.issuer).toBe(issuer);
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: { alg: string }[] };
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
  });

  it('exits cleanly with code 0 on SIGTERM', async () => {
    expect(child).toBeDefined();
    child!.kill('SIGTERM');
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`serve did not exit within 60 s of SIGTERM\nstderr: ${stderr}`)), 60_000).unref(),
    );
    const { code, signal } = await Promise.race([exited, timeout]);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(stderr).not.toMatch(stackLine);
    expect(messageLines(stderr.slice(banner.length))).toEqual([]);
    await expect(fetch(`${issuer}/healthz`)).rejects.toThrow();
  });

  it('wrote nothing but JSON log lines on stdout, from start to shutdown', () => {
    const lines = stdout.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as { msg?: string };
      } catch {
        throw new Error(`not a JSON log line on stdout: ${line}`);
      }
    });
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['gatehouse is listening', 'shutting down']));
  });
});
