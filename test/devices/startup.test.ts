/**
 * Device registration that cannot work stops Gatehouse at start (SPEC 6.2,
 * style habit 3): `enabled: true` without `jwt`, a secret shorter than 32
 * bytes, or an allow-list file that cannot be read, each with a message that
 * names the key; the CLI exits 78 (EX_CONFIG). Config loading reads files on
 * disk; the server start runs on SQLite.
 */
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createGatehouse } from '../../src/context.ts';
import { GatehouseError } from '../../src/errors.ts';
import { startServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { cliTimeouts, messageLines, runGatehouse, stackLine } from '../cli/gatehouse.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { runInProcess } from '../cli/in-process.ts';
import { deviceConfig } from '../helpers/devices.ts';
import { buildConfig } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const secret48 = 'k'.repeat(48);

describe('device registration config at start-up', () => {
  let dir: string;
  /** Writes a config.yaml with `deviceRegistration` as given (YAML flow text) and returns its path. */
  const configFile = (name: string, deviceRegistration: string): string => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        'issuer: http://127.0.0.1:3999',
        `database: { client: sqlite, filename: ${JSON.stringify(path.join(dir, `${name}.sqlite`))} }`,
        `deviceRegistration: ${deviceRegistration}`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    return file;
  };
  const loadError = (file: string): GatehouseError => {
    try {
      loadConfig(file, {});
    } catch (err) {
      expect(err).toBeInstanceOf(GatehouseError);
      return err as GatehouseError;
    }
    throw new Error(`${file} loaded, but it should not have`);
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-devices-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a complete deviceRegistration and resolves the allow-list against the config folder', () => {
    const config = loadConfig(
      configFile('good', `{ enabled: true, jwt: { secret: "${secret48}", issuer: example.com }, allowedManufacturerIds: ./ids.txt, rateLimit: 5 }`),
      {},
    );
    expect(config.deviceRegistration).toEqual({
      enabled: true,
      jwt: { secret: secret48, issuer: 'example.com' },
      allowedManufacturerIds: path.join(dir, 'ids.txt'),
      rateLimit: 5,
    });
  });

  it('takes the secret from the environment', () => {
    const config = loadConfig(configFile('env', '{ enabled: true, jwt: { secret: "${DEVICE_JWT_SECRET}", issuer: example.com } }'), {
      DEVICE_JWT_SECRET: secret48,
    });
    expect(config.deviceRegistration.jwt?.secret).toBe(secret48);
  });

  it('stops loading when enabled is true without jwt, naming the key', () => {
    const error = loadError(configFile('nojwt', '{ enabled: true }'));
    expect(error.code).toBe('config.invalid');
    expect(error.message).toMatch(/nojwt\.yaml:\d+ {2}deviceRegistration: enabled: true needs jwt: \{ secret, issuer \}/);
  });

  it('stops loading when the secret is shorter than 32 bytes, naming the key', () => {
    const error = loadError(configFile('short', `{ enabled: true, jwt: { secret: "${'s'.repeat(31)}", issuer: example.com } }`));
    expect(error.code).toBe('config.invalid');
    expect(error.message).toMatch(/short\.yaml:\d+ {2}deviceRegistration\.jwt\.secret: must be at least 32 bytes/);
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    expect(
      loadConfig(configFile('bytes', `{ enabled: true, jwt: { secret: "${'é'.repeat(16)}", issuer: example.com } }`), {}).deviceRegistration.jwt?.secret,
    ).toHaveLength(16);
  });

  it('stops loading for an empty issuer and a rate limit below 1', () => {
    expect(loadError(configFile('noiss', `{ enabled: true, jwt: { secret: "${secret48}", issuer: "" } }`)).message).toMatch(/deviceRegistration\.jwt\.issuer:/);
    expect(loadError(configFile('rate', `{ enabled: true, jwt: { secret: "${secret48}", issuer: example.com }, rateLimit: 0 }`)).message).toMatch(
      /deviceRegistration\.rateLimit:/,
    );
  });

  it('makes `gatehouse migrate` exit 78 with one message naming the key, in this process and as a child process', async () => {
    const noJwt = await runInProcess(['--config', configFile('cli-nojwt', '{ enabled: true }'), 'migrate']);
    expect(noJwt.code).toBe(78);
    expect(noJwt.stdout).toBe('');
    expect(noJwt.stderr).toContain('deviceRegistration: enabled: true needs jwt');

    const cwd = mkdtempSync(path.join(tmpdir(), 'gatehouse-cwd-'));
    try {
      const short = await runGatehouse(
        ['--config', configFile('cli-short', '{ enabled: true, jwt: { secret: "${DEVICE_JWT_SECRET}", issuer: example.com } }'), 'migrate'],
        { cwd, env: { DEVICE_JWT_SECRET: 'too-short' } },
      );
      expect(short.code, short.stderr).toBe(78);
      expect(short.stderr).not.toMatch(stackLine);
      expect(messageLines(short.stderr).join('\n')).toMatch(/deviceRegistration\.jwt\.secret: must be at least 32 bytes/);
      expect(short.stderr).not.toContain('too-short');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('device registration allow-list at start-up', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Starts a server with this allow-list path on a port nobody listens on; returns the refusal. */
  async function refusedStart(allowedManufacturerIds: string): Promise<unknown> {
    const config = buildConfig({ issuer: 'http://127.0.0.1:9', ...deviceConfig({ allowedManufacturerIds }) }, db);
    const gh = createGatehouse(config, { logger: createLogger('silent') });
    const server = http.createServer();
    try {
      return await startServer(gh, server).then(
        async (running) => {
          await running.stop();
          return undefined;
        },
        (err: unknown) => err,
      );
    } finally {
      await gh.close();
    }
  }

  it('stops startServer when the allow-list file does not exist, naming the key and the file', async () => {
    const missing = path.join(db.dir, 'no-such-ids.txt');
    const err = await refusedStart(missing);
    expect(err).toBeInstanceOf(GatehouseError);
    expect(err).toMatchObject({ code: 'config.invalid', message: `deviceRegistration.allowedManufacturerIds: cannot read ${missing} (ENOENT)` });
  });

  it('stops startServer when the allow-list path is a folder', async () => {
    const folder = path.join(db.dir, 'ids-folder');
    mkdirSync(folder);
    const err = await refusedStart(folder);
    expect(err).toMatchObject({ code: 'config.invalid', message: `deviceRegistration.allowedManufacturerIds: cannot read ${folder} (EISDIR)` });
  });
});
