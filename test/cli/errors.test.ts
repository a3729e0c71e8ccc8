/**
 * What an operator sees when something is wrong: bad flags, a bad or missing
 * config file. Always a non-zero exit and a clear message naming the problem
 * (for config: the key and the file line), never a stack trace. Also where the
 * config comes from: --config, then GATEHOUSE_CONFIG, then ./config.yaml.
 * On SQLite and PostgreSQL.
 *
 * One case runs the real program as a child process (on the first database
 * kind: the exit code a shell sees, stdout and stderr apart, no stack trace);
 * the others run the same `runCli` in this process with the same working
 * directory and environment (test/cli/in-process.ts), because every spawn
 * costs 1-2 s of CPU.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectRefusal, literal } from '../helpers/cli-answers.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, messageLines, runGatehouse, type RunResult, stackLine, writeWorkspace } from './gatehouse.ts';
import { runInProcess } from './in-process.ts';

vi.setConfig(cliTimeouts);

/** A bad config: exit 78, nothing on stdout, no stack, the first line matching `first` (the problems follow, one a line); returns the lines. */
function expectConfigRefusal(result: RunResult, first: RegExp): string[] {
  expect(result.stderr).not.toMatch(stackLine);
  expect(result.code, result.stderr).toBe(78);
  expect(result.stdout).toBe('');
  const lines = messageLines(result.stderr);
  expect(lines[0]).toMatch(first);
  return lines;
}

/** A usage error: exactly one line with the one prefix every error has (Commander may add its help hint after it). */
function expectUsageError(result: RunResult, problem: RegExp): void {
  const [line] = expectRefusal(result, 64, problem);
  expect(line).toMatch(/^gatehouse: /);
  expect(line).not.toMatch(/^gatehouse: error: /);
}

/** Exactly this line, as a RegExp for expectRefusal. */
const exactly = (line: string) => new RegExp(`^${literal(line)}$`);

describe.each(databaseKinds)('gatehouse errors and config lookup on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  /** The CLI in this process, in the workspace's empty working directory. */
  const run = (args: string[], env?: Record<string, string | undefined>) => runInProcess(args, { cwd: ws.cwd, env });
  /** The real program, for the one case per file that checks the process boundary. */
  const spawnOnce = kind === databaseKinds[0];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(db, `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db)}\nlog: { level: warn }\n`);
  });

  afterAll(async () => {
    ws?.cleanup();
    await db?.drop();
  });

  describe('bad flags', () => {
    it('refuses an unknown option', async () => {
      const args = ['--config', ws.configPath, 'user', 'list', '--bogus'];
      expectUsageError(spawnOnce ? await runGatehouse(args, { cwd: ws.cwd }) : await run(args), /unknown option '--bogus'/);
    });

    it('refuses a missing required option', async () => {
      expectUsageError(await run(['--config', ws.configPath, 'user', 'create']), /required option '--email <email>' not specified/);
    });

    it('refuses a missing argument', async () => {
      expectUsageError(await run(['--config', ws.configPath, 'user', 'show']), /missing required argument 'id'/);
    });

    it('refuses an unknown command', async () => {
      expectUsageError(await run(['--config', ws.configPath, 'frobnicate']), /unknown command 'frobnicate'/);
    });

    it('refuses an unknown sub-command', async () => {
      expectUsageError(await run(['--config', ws.configPath, 'user', 'frobnicate']), /unknown command 'frobnicate'/);
    });

    it('prints usage and exits 0 for --help', async () => {
      const result = await run(['--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage: gatehouse/);
      for (const command of ['serve', 'migrate', 'user', 'client', 'keys']) expect(result.stdout).toContain(command);
    });
  });

  describe('bad config', () => {
    const writeBad = (name: string, yaml: string) => {
      const file = path.join(ws.configDir, name);
      writeFileSync(file, yaml);
      return file;
    };

    it('stops at an unknown key, naming the key and its line', async () => {
      const file = writeBad(
        'unknown-key.yaml',
        ['issuer: http://127.0.0.1:3000', `database: ${databaseYaml(db)}`, 'firstauth:', '  enable: true', '  mailer:', '    hots: smtp.example.com', ''].join(
          '\n',
        ),
      );
      const result = await run(['--config', file, 'user', 'list']);
      const lines = expectConfigRefusal(result, new RegExp(`^gatehouse: invalid config ${literal(file)}:$`));
      expect(lines.slice(1)).toEqual([`  ${file}:6  firstauth.mailer.hots: unknown key`]);
    });

    it('stops serve at a missing ${VAR}, naming the key, the variable and the line', async () => {
      const file = writeBad(
        'missing-var.yaml',
        [
          'issuer: http://127.0.0.1:3000',
          `database: ${databaseYaml(db)}`,
          'clients:',
          '  - client_id: app',
          '    client_secret: ${GATEHOUSE_TEST_UNSET_SECRET}',
          '',
        ].join('\n'),
      );
      const result = await run(['--config', file, 'serve'], { GATEHOUSE_TEST_UNSET_SECRET: undefined });
      const lines = expectConfigRefusal(result, /^gatehouse: invalid config /);
      expect(lines.slice(1)).toEqual([`  ${file}:5  clients[0].client_secret: environment variable GATEHOUSE_TEST_UNSET_SECRET is not set`]);
    });

    it('reports a YAML syntax error with its line', async () => {
      const file = writeBad('syntax.yaml', 'issuer: http://127.0.0.1:3000\nclients: [\n  - client_id: a\n');
      const result = await run(['--config', file, 'user', 'list']);
      const lines = expectConfigRefusal(result, /^gatehouse: invalid config /);
      expect(lines.length).toBeGreaterThan(1);
      for (const line of lines.slice(1)) expect(line).toMatch(new RegExp(`^  ${file}:\\d+  \\(yaml\\): \\S`));
    });

    it('says clearly that the config file does not exist', async () => {
      const result = await run(['--config', 'missing.yaml', 'user', 'list']);
      expectRefusal(result, 78, exactly(`gatehouse: cannot read config ${path.join(ws.cwd, 'missing.yaml')}: file not found`));
    });

    it('looks for ./config.yaml when neither --config nor GATEHOUSE_CONFIG is given', async () => {
      const result = await run(['user', 'list']);
      expectRefusal(result, 78, exactly(`gatehouse: cannot read config ${path.join(ws.cwd, 'config.yaml')}: file not found`));
    });
  });

  describe('where the config comes from', () => {
    it('honours GATEHOUSE_CONFIG when --config is absent, over ./config.yaml', async () => {
      writeFileSync(path.join(ws.cwd, 'config.yaml'), 'this-key-does-not-exist: true\n');
      const result = await run(['user', 'list', '--json'], { GATEHOUSE_CONFIG: ws.configPath });
      expect(result.stderr).not.toMatch(/invalid config|cannot read config/);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([]);
    });

    it('prefers --config over GATEHOUSE_CONFIG', async () => {
      const result = await run(['--config', ws.configPath, 'user', 'list', '--json'], { GATEHOUSE_CONFIG: path.join(ws.cwd, 'nowhere.yaml') });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([]);
    });

    it('uses ./config.yaml from the working directory by default', async () => {
      writeFileSync(path.join(ws.cwd, 'config.yaml'), `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db)}\nlog: { level: warn }\n`);
      const result = await run(['user', 'list', '--json']);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual([]);
    });
  });
});
