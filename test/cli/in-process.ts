/**
 * The CLI in this process (`runCli`), its output captured: what the child
 * process would print and exit with, without the ~2 s of CPU a spawn costs on
 * the CI machine. The main cases of each suite still run the real binary
 * (./gatehouse.ts); variations use this.
 */
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/index.ts';
import type { RunResult } from './gatehouse.ts';

/** Captures swap the process's own stdout/stderr, so runs take turns (parallel callers queue). */
let turn: Promise<unknown> = Promise.resolve();

/** `input`, when given, is what the command reads on standard input (e.g. `--password-stdin`). */
export function runInProcess(argv: string[], input?: string): Promise<RunResult> {
  return startInProcess(argv, input).result;
}

/** A run whose output can be read while it goes on (`serve` runs until SIGTERM); other runs queue behind it. */
export interface InProcessRun {
  stdout: string;
  stderr: string;
  result: Promise<RunResult>;
}

export function startInProcess(argv: string[], input?: string): InProcessRun {
  const live: Omit<InProcessRun, 'result'> = { stdout: '', stderr: '' };
  const result = turn.then(() => runCaptured(argv, input, live));
  turn = result.catch(() => undefined);
  return Object.assign(live, { result });
}

async function runCaptured(argv: string[], input: string | undefined, live: { stdout: string; stderr: string }): Promise<RunResult> {
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin');
  if (input !== undefined) {
    const fed = Readable.from([input]);
    Object.defineProperty(process, 'stdin', { configurable: true, get: () => fed });
  }
  process.stdout.write = ((chunk: string | Uint8Array) => ((live.stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((live.stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await runCli(['node', 'gatehouse', ...argv]);
    return { code, signal: null, stdout: live.stdout, stderr: live.stderr };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
    if (input !== undefined && stdin) Object.defineProperty(process, 'stdin', stdin);
  }
}

/** The answer shapes live in one place; re-exported for the suites that import them from here. */
export { expectRefusal, expectSuccess, parsed } from '../helpers/cli-answers.ts';
