/**
 * Runs the real `gatehouse` program (bin/gatehouse.js) as a child process, the
 * way an operator does: its own working directory, a config.yaml on disk, the
 * environment it is given and stdin fed or closed. Also writes per-suite
 * configs pointing at a test database, and finds free ports for `serve`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from '../helpers/databases.ts';

export const binPath = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  /** Added to a clean copy of this process's environment (GATEHOUSE_CONFIG removed). */
  env?: Record<string, string | undefined> | undefined;
  /** Written to stdin, which is then closed (closed at once when absent). */
  input?: string | undefined;
  timeoutMs?: number;
}

/** The environment a child gets: ours without GATEHOUSE_CONFIG (so a developer's own setting cannot leak in), plus `extra`. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.GATEHOUSE_CONFIG;
  delete env.GATEHOUSE_DEBUG;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runGatehouse(args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') reject(new Error(`gatehouse ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
    // A child that exits before reading stdin makes the write fail with EPIPE: that is fine.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** `gatehouse --json …` whose exit must be 0; returns the parsed stdout. */
export async function runJson<T = unknown>(args: string[], options: RunOptions): Promise<T> {
  const result = await runGatehouse([...args, '--json'], options);
  if (result.code !== 0) throw new Error(`gatehouse ${args.join(' ')} --json exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/**
 * What the program itself wrote to stderr: non-empty lines, without the warning
 * oidc-provider prints when it is imported on a Node.js release it does not list
 * (Node 20 here); that line is the library's, not Gatehouse's.
 */
export function messageLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('oidc-provider WARNING: Unsupported runtime'));
}

/** Commander adds this hint after a usage error at the top level. */
export const helpHint = '(run with --help for usage)';

/** A stack trace line ("    at fn (file:1:2)"). */
export const stackLine = /^\s+at\s/m;

/** The `database:` value for config.yaml (JSON is YAML); a relative SQLite file is resolved against the config's folder. */
export function databaseYaml(db: TestDatabase, sqliteFilename?: string): string {
  return db.config.client === 'sqlite'
    ? JSON.stringify({ client: 'sqlite', filename: sqliteFilename ?? db.config.filename })
    : JSON.stringify({ client: 'postgres', url: db.config.url });
}

export interface CliWorkspace {
  /** Folder that holds config.yaml (the test database's folder). */
  configDir: string;
  configPath: string;
  /** An empty folder the program runs in, so nothing depends on the config being in the cwd. */
  cwd: string;
  cleanup(): void;
}

/** Writes `yaml` as config.yaml into the database's folder and makes a separate empty working directory. */
export function writeWorkspace(db: TestDatabase, yaml: string): CliWorkspace {
  const configPath = path.join(db.dir, 'config.yaml');
  writeFileSync(configPath, yaml);
  const cwd = mkdtempSync(path.join(tmpdir(), 'gatehouse-cwd-'));
  return { configDir: db.dir, configPath, cwd, cleanup: () => rmSync(cwd, { recursive: true, force: true }) };
}

export { freePort } from '../helpers/ports.ts';

/**
 * Each spawn starts tsx and loads the whole program (~1-2 s of CPU); on a busy
 * machine a test with a few of them needs more than the default 60 s.
 */
export const cliTimeouts = { testTimeout: 180_000, hookTimeout: 120_000 } as const;
