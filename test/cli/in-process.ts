/**
 * The CLI in this process (`runCli`), its output captured: what the child
 * process would print and exit with, without the ~2 s of CPU a spawn costs on
 * the CI machine. Each suite still runs the real binary (./gatehouse.ts) for
 * what only a process shows (the exit code a shell sees, stdout and stderr
 * apart, no stack trace, signals, two processes at once); the rest uses this.
 * Each run gets a fresh Commander program (runCli builds one), and its
 * Gatehouse closes its database pool before runCli returns.
 *
 * Not captured: pino's log lines, which go straight to file descriptor 1
 * rather than through process.stdout.write; commands log at warn and above only.
 */
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/index.ts';
import type { RunResult } from './gatehouse.ts';

/** What the run gets besides argv, as a child would (see RunOptions in ./gatehouse.ts). */
export interface InProcessOptions {
  /** What the command reads on standard input (e.g. `--password-stdin`); an empty, closed stdin when absent. */
  input?: string | undefined;
  /** The working directory for the run (relative --config and --state paths, ./config.yaml). */
  cwd?: string | undefined;
  /** Set (or, when undefined, removed) for the run, on top of this process's environment without GATEHOUSE_CONFIG and GATEHOUSE_DEBUG. */
  env?: Record<string, string | undefined> | undefined;
}

/**
 * Captures swap the process's own stdout/stderr, stdin, working directory and
 * environment, so runs take turns (parallel callers queue). A string is the
 * `input` (the older form of the call).
 */
export function runInProcess(argv: string[], options: string | InProcessOptions = {}): Promise<RunResult> {
  const opts = typeof options === 'string' ? { input: options } : options;
  const run = turn.then(() => runCaptured(argv, opts));
  turn = run.catch(() => undefined);
  return run;
}

/** A run whose output can be read while it goes on (`serve` runs until SIGTERM); other runs queue behind it. */
export interface InProcessRun {
  stdout: string;
  stderr: string;
  result: Promise<RunResult>;
}

export function startInProcess(argv: string[], options: InProcessOptions = {}): InProcessRun {
  const live = { stdout: '', stderr: '' };
  const result = turn.then(() => runCaptured(argv, options, live));
  turn = result.catch(() => undefined);
  return Object.assign(live, { result });
}

let turn: Promise<unknown> = Promise.resolve();

async function runCaptured(argv: string[], options: InProcessOptions, live = { stdout: '', stderr: '' }): Promise<RunResult> {
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin');
  const cwd = process.cwd();
  const exitCode = process.exitCode;
  // The child's environment (childEnv): ours without a developer's GATEHOUSE_CONFIG/DEBUG, plus the run's own.
  const env: Record<string, string | undefined> = { GATEHOUSE_CONFIG: undefined, GATEHOUSE_DEBUG: undefined, ...options.env };
  const savedEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const setEnv = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  const fed = Readable.from(options.input === undefined ? [] : [options.input]);
  Object.defineProperty(process, 'stdin', { configurable: true, get: () => fed });
  // process.chdir needs the forks pool (vitest.config.ts); in a worker thread it throws, loudly.
  if (options.cwd !== undefined) process.chdir(options.cwd);
  setEnv(env);
  process.stdout.write = ((chunk: string | Uint8Array) => ((live.stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((live.stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await runCli(['node', 'gatehouse', ...argv]);
    return { code, signal: null, stdout: live.stdout, stderr: live.stderr };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
    setEnv(savedEnv);
    process.chdir(cwd);
    process.exitCode = exitCode;
    if (stdin) Object.defineProperty(process, 'stdin', stdin);
  }
}

/** The answer shapes live in one place; re-exported for the suites that import them from here. */
export { expectRefusal, expectSuccess, parsed } from '../helpers/cli-answers.ts';
