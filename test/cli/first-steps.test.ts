/**
 * What a new user meets following the README (issue 10, items 16, 17, 21): with
 * `deviceRegistration` on, commands that do not sign device tokens run without
 * DEVICE_JWT_SECRET, while `device-token create` and `serve` stop naming the
 * key and its line; the README's DEVICE_TOKEN line works when pasted into a
 * shell; `--version` prints the package's version; `device list` prints the
 * token each device came with; agents get names that tell them apart.
 *
 * One server on SQLite (nothing here is storage), the CLI in this process;
 * the real program only where the process matters (--version, the README line).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { childEnv, cliTimeouts, type CliWorkspace, databaseYaml, runGatehouse, writeWorkspace } from './gatehouse.ts';
import { parsed, runInProcess } from './in-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { deviceConfig, deviceJwtIssuer, deviceJwtSecret, secretKey } from '../helpers/devices.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const packageVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

interface DeviceJson {
  id: string;
  name: string | null;
  path: string;
  tokenId: string | null;
}

describe('first steps from the README', () => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  let devices: string;
  /** The config file line that holds `${DEVICE_JWT_SECRET}`. */
  const secretLine = 6;
  const savedSecret = process.env.DEVICE_JWT_SECRET;
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args]);
  const cliJson = <T>(args: string[]) => cli([...args, '--json']).then((r) => parsed<T>(r));
  const missingSecret = () =>
    new RegExp(
      `^  ${ws.configPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${secretLine}  deviceRegistration\\.jwt\\.secret: environment variable DEVICE_JWT_SECRET is not set$`,
    );

  beforeAll(async () => {
    // As in a second terminal where the secret was never exported.
    delete process.env.DEVICE_JWT_SECRET;
    db = await createTestDatabase('sqlite');
    const registration = { enabled: true, initialAccessToken: 'required' };
    server = await startTestServer(db, deviceConfig({}, { registration }));
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        `registration: ${JSON.stringify(registration)}`,
        'deviceRegistration:',
        '  enabled: true',
        '  jwt: { secret: "${DEVICE_JWT_SECRET}", issuer: example.com }',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    devices = mkdtempSync(path.join(tmpdir(), 'gatehouse-first-steps-'));
  });

  afterAll(async () => {
    if (savedSecret === undefined) delete process.env.DEVICE_JWT_SECRET;
    else process.env.DEVICE_JWT_SECRET = savedSecret;
    await server?.stop();
    ws?.cleanup();
    if (devices) rmSync(devices, { recursive: true, force: true });
    await db?.drop();
  });

  describe('a secret only the commands that use it need', () => {
    it('runs device list, user list, client list and registration-token create without DEVICE_JWT_SECRET', async () => {
      expect(await cliJson<unknown[]>(['device', 'list'])).toEqual([]);
      expect(await cliJson<unknown[]>(['user', 'list'])).toEqual([]);
      expect(await cliJson<unknown[]>(['client', 'list'])).toEqual(expect.any(Array));
      expect(await cliJson<{ token: string }>(['registration-token', 'create', '--count', '1', '--expires', '1d'])).toMatchObject({
        token: expect.any(String),
      });
    });

    it('stops device-token create without it, naming the key and its line (exit 78)', async () => {
      const result = await cli(['device-token', 'create']);
      expect(result.code).toBe(78);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n').filter(Boolean)).toEqual([`gatehouse: invalid config ${ws.configPath}:`, expect.stringMatching(missingSecret())]);
    });

    it('stops serve at start-up without it, naming the key and its line (SPEC 7)', async () => {
      const result = await cli(['serve']);
      expect(result.code).toBe(78);
      expect(result.stderr.split('\n').filter(Boolean)).toEqual([`gatehouse: invalid config ${ws.configPath}:`, expect.stringMatching(missingSecret())]);
    });

    it('signs with it once it is set', async () => {
      process.env.DEVICE_JWT_SECRET = deviceJwtSecret;
      try {
        const made = await cliJson<{ id: string; token: string }>(['device-token', 'create']);
        await expect(jwtVerify(made.token, secretKey(), { issuer: deviceJwtIssuer })).resolves.toMatchObject({ payload: { jti: made.id } });
      } finally {
        delete process.env.DEVICE_JWT_SECRET;
      }
    });

    it("sets DEVICE_TOKEN with the README's line, pasted into a shell in the repository", async () => {
      const line = /^(?:export )?DEVICE_TOKEN=.*$/m.exec(readme)?.[0];
      expect(line, 'the README sets DEVICE_TOKEN before using it').toBeDefined();
      const shell = spawn('bash', ['-euo', 'pipefail', '-c', `${line}\nprintf '%s' "$DEVICE_TOKEN"`], {
        cwd: repoRoot,
        env: childEnv({ GATEHOUSE_CONFIG: ws.configPath, DEVICE_JWT_SECRET: deviceJwtSecret }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => shell.on('close', resolve));
      expect(code, stderr).toBe(0);
      const { payload } = await jwtVerify(stdout, secretKey(), { issuer: deviceJwtIssuer });
      expect(payload.registration_url).toBe(`${server.url}/api/register-device`);
    });
  });

  it('prints the package version for --version and exits 0', async () => {
    const result = await runGatehouse(['--version'], { cwd: devices });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${packageVersion}\n`);
  });

  describe('devices in device list', () => {
    let token: { id: string; token: string };

    beforeAll(async () => {
      token = await cliJson(['registration-token', 'create', '--count', '3', '--expires', '1d', '--grant-types', 'client_credentials']);
    });

    const register = (state: string, extra: string[] = []) =>
      runInProcess(['agent', 'register', '--issuer', server.url, '--registration-token', token.token, '--state', state, '--json', ...extra]).then((r) =>
        parsed<{ client_id: string }>(r),
      );

    it('names agents apart by default, even with the same host and state file name, and by --name when given', async () => {
      mkdirSync(path.join(devices, 'a'));
      mkdirSync(path.join(devices, 'b'));
      const first = await register(path.join(devices, 'a', 'state.json'));
      const second = await register(path.join(devices, 'b', 'state.json'));
      const named = await register(path.join(devices, 'named.json'), ['--name', 'hall sensor']);
      const listed = await cliJson<DeviceJson[]>(['device', 'list']);
      const nameOf = (id: string) => listed.find((d) => d.id === id)?.name;
      const pattern = new RegExp(`^gatehouse-agent [0-9a-f]{6} on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(state\\.json\\)$`);
      expect(nameOf(first.client_id)).toMatch(pattern);
      expect(nameOf(second.client_id)).toMatch(pattern);
      expect(nameOf(first.client_id)).not.toBe(nameOf(second.client_id));
      expect(nameOf(named.client_id)).toBe('hall sensor');
    });

    it('prints the token each device came with in its TOKENID column', async () => {
      const result = await cli(['device', 'list']);
      expect(result.code).toBe(0);
      const [header, ...rows] = result.stdout.trimEnd().split('\n');
      const columns = header!.split(/\s{2,}/);
      expect(columns).toContain('TOKENID');
      expect(rows).toHaveLength(3);
      const at = header!.indexOf('TOKENID');
      for (const row of rows) expect(row.slice(at, at + token.id.length)).toBe(token.id);
      expect((await cliJson<DeviceJson[]>(['device', 'list'])).every((d) => d.tokenId === token.id && d.path === 'registration-token')).toBe(true);
    });
  });
});
