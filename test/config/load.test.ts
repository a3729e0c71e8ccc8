/**
 * Loading config.yaml: defaults, `${VAR}` from the environment, relative paths
 * against the config's own folder, and the problems an operator can make, each
 * reported with its key path, file and line, all of them in one error.
 * Also: the shipped config.yaml loads, and what it documents is what the schema
 * accepts (read from git, test/helpers/shipped.ts: the working tree's copy is the
 * user's to edit).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, requireSet, type ConfigProblem } from '../../src/config/load.ts';
import { configSchema, firstAuthMailerSchema, type Config } from '../../src/config/schema.ts';
import { GatehouseError } from '../../src/errors.ts';
import { shippedFile } from '../helpers/shipped.ts';

/** The shipped config.yaml as committed, read once when the suite starts. */
const shipped = shippedFile('config.yaml');
const file = '/etc/gatehouse/config.yaml';

/** The error parseConfig throws for `text` (fails the test if it loads). */
function problemsOf(text: string, env: Record<string, string | undefined> = {}): { error: GatehouseError; problems: ConfigProblem[]; lines: string[] } {
  try {
    parseConfig(text, file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    const error = err as GatehouseError;
    expect(error.code).toBe('config.invalid');
    const lines = error.message.split('\n');
    expect(lines[0]).toBe(`invalid config ${file}:`);
    return { error, problems: (error.details?.problems ?? []) as ConfigProblem[], lines: lines.slice(1) };
  }
  throw new Error('the config loaded, but it should not have');
}

describe('loading config.yaml', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-config-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('defaults and paths', () => {
    it('gives a minimal config every default', () => {
      const configPath = path.join(dir, 'minimal.yaml');
      writeFileSync(configPath, '# nothing but a comment\n');
      const config = loadConfig(configPath, {});
      expect(config.issuer).toBe('http://127.0.0.1:3000');
      expect(config.listen).toEqual({});
      expect(config.trustProxy).toBe(false);
      expect(config.connectors).toEqual([{ id: 'local', type: 'local', name: 'Email', signup: false }]);
      expect(config.clients).toEqual([]);
      expect(config.admins).toEqual([]);
      expect(config.firstauth).toEqual({ enable: false, mode: 'manual', mailer: {} });
      expect(config.branding).toEqual({ name: 'Gatehouse', primaryColor: '#2a5db0' });
      expect(config.ttl.accessToken).toBe('1h');
      expect(config.security.maxLoginFailures).toBe(5);
      expect(config.log.level).toBe('info');
      expect(config.baseDir).toBe(dir);
    });

    it("puts the default SQLite file and outbox in the config file's folder, not the working directory", () => {
      const configPath = path.join(dir, 'paths.yaml');
      writeFileSync(configPath, 'issuer: https://id.example.com/\n');
      expect(process.cwd()).not.toBe(dir);
      const config = loadConfig(configPath, {});
      expect(config.database).toEqual({ client: 'sqlite', filename: path.join(dir, 'data', 'gatehouse.sqlite') });
      expect(config.mailer.outbox).toBe(path.join(dir, 'data', 'outbox'));
      // A trailing slash on the issuer is dropped, so `${issuer}/path` never doubles it.
      expect(config.issuer).toBe('https://id.example.com');
    });

    it("resolves relative database and outbox paths against the config file's folder", () => {
      const sub = path.join(dir, 'site');
      const configPath = path.join(dir, 'relative.yaml');
      writeFileSync(configPath, 'database: { client: sqlite, filename: ./site/db.sqlite }\nmailer: { outbox: ../mails }\n');
      const config = loadConfig(configPath, {});
      expect(config.database).toEqual({ client: 'sqlite', filename: path.join(sub, 'db.sqlite') });
      expect(config.mailer.outbox).toBe(path.join(path.dirname(dir), 'mails'));
    });

    it('keeps absolute paths, :memory: and a PostgreSQL URL as written', () => {
      const sqlite = parseConfig('database: { client: sqlite, filename: ":memory:" }\nmailer: { outbox: /var/spool/gatehouse }\n', file, {});
      expect(sqlite.database).toEqual({ client: 'sqlite', filename: ':memory:' });
      expect(sqlite.mailer.outbox).toBe('/var/spool/gatehouse');
      const pg = parseConfig('database: { client: postgres, url: "postgres://gh@db:5432/gh" }\n', file, {});
      expect(pg.database).toEqual({ client: 'postgres', url: 'postgres://gh@db:5432/gh' });
    });

    it('says clearly that a config file does not exist', () => {
      const missing = path.join(dir, 'nope.yaml');
      expect(() => loadConfig(missing, {})).toThrow(new GatehouseError('config.invalid', `cannot read config ${missing}: file not found`));
    });
  });

  describe('${VAR} from the environment', () => {
    const yaml = [
      'issuer: ${ISSUER}',
      'listen:',
      '  host: ${HOST:-0.0.0.0}',
      '  port: ${PORT}',
      'trustProxy: ${BEHIND_PROXY:-false}',
      'database: { client: postgres, url: "postgres://gatehouse:${DB_PASSWORD}@${DB_HOST:-localhost}:5432/gatehouse" }',
      'clients:',
      '  - client_id: app',
      '    client_secret: ${APP_SECRET}',
      '',
    ].join('\n');

    it('replaces ${VAR} from the environment, also inside a longer value', () => {
      const config = parseConfig(yaml, file, { ISSUER: 'https://id.example.com', PORT: '8443', DB_PASSWORD: 's3cr3t', APP_SECRET: 'app-secret' });
      expect(config.issuer).toBe('https://id.example.com');
      expect(config.database).toEqual({ client: 'postgres', url: 'postgres://gatehouse:s3cr3t@localhost:5432/gatehouse' });
      expect(config.clients[0]).toMatchObject({ client_id: 'app', client_secret: 'app-secret' });
    });

    it('uses the fallback of ${VAR:-fallback} when the variable is unset or empty, and the variable when set', () => {
      const env = { ISSUER: 'https://id.example.com', PORT: '8443', DB_PASSWORD: 'pw', APP_SECRET: 'x' };
      expect(parseConfig(yaml, file, env).listen.host).toBe('0.0.0.0');
      expect(parseConfig(yaml, file, { ...env, HOST: '' }).listen.host).toBe('0.0.0.0');
      const set = parseConfig(yaml, file, { ...env, HOST: '127.0.0.2', DB_HOST: 'db.internal' });
      expect(set.listen.host).toBe('127.0.0.2');
      expect(set.database).toMatchObject({ url: 'postgres://gatehouse:pw@db.internal:5432/gatehouse' });
    });

    it('turns a value that is one variable alone into a number or boolean, as YAML would', () => {
      const config = parseConfig(yaml, file, { ISSUER: 'https://id.example.com', PORT: '8443', BEHIND_PROXY: 'true', DB_PASSWORD: 'pw', APP_SECRET: 'x' });
      expect(config.listen.port).toBe(8443);
      expect(config.trustProxy).toBe(true);
      expect(parseConfig(yaml, file, { ISSUER: 'https://id.example.com', PORT: '8443', DB_PASSWORD: 'pw', APP_SECRET: 'x' }).trustProxy).toBe(false);
    });

    it('leaves ${VAR} in comments alone', () => {
      const config = parseConfig('# password: ${SMTP_PASSWORD}\nissuer: http://127.0.0.1:3000  # ${NOT_A_VALUE}\n', file, {});
      expect(config.issuer).toBe('http://127.0.0.1:3000');
    });

    it('stops at a missing variable, naming the key path, the file and the line', () => {
      const text = 'issuer: http://127.0.0.1:3000\nclients:\n  - client_id: app\n    client_secret: ${SEC}\n';
      const { lines, problems } = problemsOf(text);
      expect(lines).toEqual([`  ${file}:4  clients[0].client_secret: environment variable SEC is not set`]);
      expect(lines[0]).toContain('config.yaml:4  clients[0].client_secret: environment variable SEC is not set');
      expect(problems).toEqual([{ path: 'clients[0].client_secret', line: 4, message: 'environment variable SEC is not set' }]);
    });

    it('names every missing variable at once', () => {
      const { lines } = problemsOf(yaml, { ISSUER: 'https://id.example.com', PORT: '1' });
      expect(lines).toEqual([
        `  ${file}:6  database.url: environment variable DB_PASSWORD is not set`,
        `  ${file}:9  clients[0].client_secret: environment variable APP_SECRET is not set`,
      ]);
    });

    describe('deferred for the commands that do not use the key (deferUnset, as the CLI loads)', () => {
      const devices = [
        'issuer: http://127.0.0.1:3000',
        'deviceRegistration:',
        '  enabled: true',
        '  jwt: { secret: "${DEVICE_JWT_SECRET}", issuer: example.com }',
        'clients:',
        '  - { client_id: app, client_secret: "${APP_SECRET}" }',
        '',
      ].join('\n');
      /** The config error `run` throws, as its message lines after the first. */
      const refusal = (run: () => void): string[] => {
        try {
          run();
        } catch (err) {
          expect(err).toMatchObject({ code: 'config.invalid' });
          const [first, ...rest] = (err as Error).message.split('\n');
          expect(first).toBe(`invalid config ${file}:`);
          return rest;
        }
        throw new Error('it went on, but it should have stopped');
      };

      it('loads the rest of the config, listing each unset key with its variable and line', () => {
        const config = parseConfig(devices, file, {}, { deferUnset: true });
        expect(config.deviceRegistration.enabled).toBe(true);
        expect(config.unset).toEqual([
          { path: 'deviceRegistration.jwt.secret', file, line: 4, variable: 'DEVICE_JWT_SECRET' },
          { path: 'clients[0].client_secret', file, line: 6, variable: 'APP_SECRET' },
        ]);
        // The stand-in says what it is, should it ever be shown; it is never a usable secret from the environment.
        expect(config.deviceRegistration.jwt?.secret).toBe('(environment variable DEVICE_JWT_SECRET is not set)');
        expect(parseConfig(devices, file, { DEVICE_JWT_SECRET: 'k'.repeat(32), APP_SECRET: 'a' }, { deferUnset: true }).unset).toBeUndefined();
      });

      it('lets a use that does not need them go on, and stops one that does, naming the key and its line', () => {
        const config = parseConfig(devices, file, { APP_SECRET: 'a' }, { deferUnset: true });
        expect(() => requireSet(config, ['database', 'clients'])).not.toThrow();
        expect(refusal(() => requireSet(config, ['database', 'deviceRegistration.jwt']))).toEqual([
          `  ${file}:4  deviceRegistration.jwt.secret: environment variable DEVICE_JWT_SECRET is not set`,
        ]);
        // Without keys, every key is needed (serve).
        const both = parseConfig(devices, file, {}, { deferUnset: true });
        expect(refusal(() => requireSet(both))).toEqual([
          `  ${file}:4  deviceRegistration.jwt.secret: environment variable DEVICE_JWT_SECRET is not set`,
          `  ${file}:6  clients[0].client_secret: environment variable APP_SECRET is not set`,
        ]);
      });

      it('still stops at once for other problems, and where no stand-in can fill the key', () => {
        expect(problemsOf(`${devices}issure: typo\n`, {}).lines).toContain(`  ${file}:7  issure: unknown key`);
        expect(refusal(() => parseConfig(`${devices}issure: typo\n`, file, {}, { deferUnset: true }))).toEqual([
          `  ${file}:4  deviceRegistration.jwt.secret: environment variable DEVICE_JWT_SECRET is not set`,
          `  ${file}:6  clients[0].client_secret: environment variable APP_SECRET is not set`,
          `  ${file}:7  issure: unknown key`,
        ]);
        // A port is a number: without its variable the config cannot be built, so loading stops, naming the variable only.
        expect(refusal(() => parseConfig('listen:\n  port: ${PORT}\n', file, {}, { deferUnset: true }))).toEqual([
          `  ${file}:2  listen.port: environment variable PORT is not set`,
        ]);
      });
    });
  });

  describe('invalid keys and values', () => {
    it('reports an unknown top-level key with its line', () => {
      const { lines } = problemsOf('issuer: http://127.0.0.1:3000\n\nissure: http://typo.example.com\n');
      expect(lines).toEqual([`  ${file}:3  issure: unknown key`]);
    });

    it('reports an unknown nested key with its line', () => {
      const { lines } = problemsOf('firstauth:\n  enable: true\n  mailer:\n    host: smtp.example.com\n    hots: smtp.example.com\n');
      expect(lines).toEqual([`  ${file}:5  firstauth.mailer.hots: unknown key`]);
    });

    it('reports a bad enum value with its line and the allowed values', () => {
      const { lines } = problemsOf('firstauth:\n  enable: true\n  mode: bogus\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^  ${file}:3  firstauth\\.mode: .*auto.*manual.*none`));
    });

    it('reports a value of the wrong type and a bad duration with their lines', () => {
      const { lines } = problemsOf('listen:\n  port: high\nttl:\n  accessToken: forever\n');
      expect(lines).toEqual([
        expect.stringMatching(new RegExp(`^  ${file}:2  listen\\.port: .*number`)),
        `  ${file}:4  ttl.accessToken: must be a duration like 30s, 15m, 12h or 7d`,
      ]);
    });

    it('reports several problems together in one error', () => {
      const text = [
        'issuer: http://127.0.0.1:3000', //               1
        'bogus: 1', //                                      2
        'firstauth:', //                                    3
        '  mode: bogus', //                                 4
        '  mailer: { hots: smtp.example.com }', //          5
        'admins: [not-an-address]', //                     6
        'clients:', //                                      7
        '  - { client_id: a, client_secret: "${SEC}" }', // 8
        '',
      ].join('\n');
      const { problems, lines } = problemsOf(text);
      expect(problems.map((p) => [p.path, p.line])).toEqual(
        expect.arrayContaining([
          ['bogus', 2],
          ['firstauth.mode', 4],
          ['firstauth.mailer.hots', 5],
          ['admins[0]', 6],
          ['clients[0].client_secret', 8],
        ]),
      );
      expect(problems).toHaveLength(5);
      expect(lines).toHaveLength(5);
      for (const line of lines) expect(line).toMatch(new RegExp(`^  ${file}:\\d+  \\S+: \\S`));
    });
  });

  describe('YAML syntax errors', () => {
    it('reports an unclosed flow sequence with its line, not a stack', () => {
      const { lines, problems } = problemsOf('issuer: http://127.0.0.1:3000\nadmins: [a@example.com\nlog: { level: info }\n');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      for (const line of lines) {
        expect(line).toMatch(new RegExp(`^  ${file}:\\d+  \\(yaml\\): \\S`));
        expect(line).not.toMatch(/\s+at\s.*\(/);
      }
      expect(problems.every((p) => typeof p.line === 'number' && p.line >= 2)).toBe(true);
    });

    it('reports a duplicate key on the line of the second one', () => {
      const { lines } = problemsOf('issuer: http://127.0.0.1:3000\nlog: { level: info }\nissuer: http://127.0.0.1:4000\n');
      expect(lines).toEqual([`  ${file}:3  (yaml): Map keys must be unique`]);
    });

    it('reports a bad indentation with a line where yaml finds it', () => {
      // yaml sees `true` start a nested mapping that the over-indented line continues: it points at line 2.
      const { problems } = problemsOf('issuer: http://127.0.0.1:3000\nfirstauth:\n  enable: true\n   mode: manual\n');
      expect(problems.length).toBeGreaterThanOrEqual(1);
      for (const problem of problems) {
        expect(problem.path).toBe('(yaml)');
        expect([3, 4]).toContain(problem.line);
      }
    });
  });

  describe.skipIf(shipped === undefined)('the shipped config.yaml', () => {
    const text = shipped ?? '';

    it('loads without errors', () => {
      // From a folder of its own, as in a checkout: the default SQLite file lands beside it.
      const shippedConfig = path.join(dir, 'shipped', 'config.yaml');
      mkdirSync(path.dirname(shippedConfig));
      writeFileSync(shippedConfig, text);
      const config: Config = loadConfig(shippedConfig, {});
      expect(config.issuer).toBe('http://127.0.0.1:3000');
      expect(config.clients.map((c) => c.client_id)).toEqual(['demo', 'demo-service', 'demo-tv']);
      expect(config.database).toEqual({ client: 'sqlite', filename: path.join(path.dirname(shippedConfig), 'data', 'gatehouse.sqlite') });
    });

    it('still loads with every commented-out example switched on', () => {
      const uncomment = (source: string, pattern: RegExp) =>
        source
          .split('\n')
          .map((l) => (pattern.test(l) ? l.replace(/^(\s*)# ?/, '$1') : l))
          .join('\n');
      let variant = text;
      // The upstream OIDC connector (two lines) and the SMTP settings under `mailer:`.
      variant = uncomment(variant, /^\s+# (- \{ id: corp|\s+clientId: gatehouse)/);
      variant = uncomment(variant, /^\s+# (host|port|user|password|from|secure):/);
      variant = uncomment(variant, /^\s+# passwordHashConcurrency:/);
      // The PostgreSQL line documented above `database:` replaces the SQLite one, with its pool.
      const pgLine = /^#\s+(database: \{ client: postgres, url: "\$\{DATABASE_URL\}" \})\s+# optional (pool: \{ min: 0, max: 10 \})/m.exec(variant);
      expect(pgLine).not.toBeNull();
      variant = variant.replace(/^database: .*$/m, `${pgLine![1]!.replace(/ \}$/, `, ${pgLine![2]} }`)}`);
      // logoUrl, documented under `branding:`.
      const logo = /^#\s+logoUrl: (\S+)/m.exec(variant);
      expect(logo).not.toBeNull();
      variant = variant.replace(/^branding: \{ (.*) \}$/m, `branding: { $1, logoUrl: ${logo![1]} }`);
      expect(variant).not.toBe(text);

      const config = parseConfig(variant, file, { CORP_SECRET: 'corp-secret', SMTP_PASSWORD: 'smtp-password', DATABASE_URL: 'postgres://gh@db/gh' });
      expect(config.connectors.map((c) => c.id)).toEqual(['local', 'corp']);
      expect(config.connectors[1]).toMatchObject({ type: 'oidc', clientSecret: 'corp-secret', scopes: ['openid', 'email', 'profile'] });
      expect(config.mailer).toMatchObject({ host: 'smtp.example.com', port: 587, password: 'smtp-password', secure: false });
      expect(config.security.passwordHashConcurrency).toBe(2);
      expect(config.database).toEqual({ client: 'postgres', url: 'postgres://gh@db/gh', pool: { min: 0, max: 10 } });
      expect(config.branding.logoUrl).toBe('https://example.com/logo.svg');
    });

    it('lists only real firstauth.mailer keys and log levels in its comments', () => {
      const mailerKeys = /^\s+mailer: \{\}\s+# (.*)$/m.exec(text)?.[1]?.split(/,\s*/) ?? [];
      expect(mailerKeys.length).toBeGreaterThan(0);
      expect(mailerKeys.filter((k) => !(k in firstAuthMailerSchema.shape))).toEqual([]);
      const levels = /^log: .*# (.*)$/m.exec(text)?.[1]?.split(/\s*\|\s*/) ?? [];
      expect(levels.length).toBeGreaterThan(0);
      for (const level of levels) expect(parseConfig(`log: { level: ${level} }\n`, file, {}).log.level).toBe(level);
      const modes = /^\s+mode: \w+\s+# (.*)$/m.exec(text)?.[1]?.split(/\s*\|\s*/) ?? [];
      expect(modes).toEqual(['auto', 'manual', 'none']);
      for (const mode of modes) expect(parseConfig(`firstauth: { mode: ${mode} }\n`, file, {}).firstauth.mode).toBe(mode);
    });

    it('mentions every key the schema knows (its header promises "every key is listed here")', () => {
      const undocumented = schemaKeys(configSchema).filter((key) => !new RegExp(`\\b${key.split('.').at(-1)!.replace('[]', '')}\\b`).test(text));
      expect(undocumented).toEqual([]);
    });
  });
});

/** Every key path of a zod object schema, through defaults, optionals, pipes, arrays and unions. */
function schemaKeys(schema: unknown, prefix = ''): string[] {
  const def = (
    schema as { _zod: { def: { type: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; element?: unknown; options?: unknown[] } } }
  )._zod.def;
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, value]) => [prefix + key, ...schemaKeys(value, `${prefix}${key}.`)]);
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
      return schemaKeys(def.innerType, prefix);
    case 'pipe':
      return schemaKeys(def.in, prefix);
    case 'array':
      return schemaKeys(def.element, prefix.replace(/\.$/, '[].'));
    case 'union':
      return [...new Set((def.options ?? []).flatMap((option) => schemaKeys(option, prefix)))];
    default:
      return [];
  }
}
