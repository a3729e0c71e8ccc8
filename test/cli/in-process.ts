/**
 * The CLI in this process (`runCli`), its output captured: what the child
 * process would print and exit with, without the ~2 s of CPU a spawn costs on
 * the CI machine. The main cases of each suite still run the real binary
 * (./gatehouse.ts); variations use this. Plus the two shapes of an answer:
 * a successful `--json` run, and a one-line refusal.
 */
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { runCli } from '../../src/cli/index.ts';
import { helpHint, messageLines, stackLine, type RunResult } from './gatehouse.ts';

/** Captures swap the process's own stdout/stderr, so runs take turns (parallel callers queue). */
let turn: Promise<unknown> = Promise.resolve();

/** `input`, when given, is what the command reads on standard input (e.g. `--password-stdin`). */
export function runInProcess(argv: string[], input?: string): Promise<RunResult> {
  const run = turn.then(() => runCaptured(argv, input));
  turn = run.catch(() => undefined);
  return run;
}

async function runCaptured(argv: string[], input?: string): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin');
  if (input !== undefined) {
    const fed = Readable.from([input]);
    Object.defineProperty(process, 'stdin', { configurable: true, get: () => fed });
  }
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await runCli(['node', 'gatehouse', ...argv]);
    return { code, signal: null, stdout, stderr };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
    if (input !== undefined && stdin) Object.defineProperty(process, 'stdin', stdin);
  }
}

/** A successful `--json` run: exit 0, nothing on stderr, stdout parsed. */
export function parsed<T>(result: RunResult): T {
  expect(messageLines(result.stderr), result.stderr).toEqual([]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** A refusal: non-zero exit, nothing on stdout, one line on stderr, no stack trace. */
export function expectRefusal(result: RunResult, exitCode: number, line: RegExp): void {
  expect(result.stderr).not.toMatch(stackLine);
  expect(result.code, result.stderr).toBe(exitCode);
  expect(result.stdout).toBe('');
  const lines = messageLines(result.stderr).filter((l) => l !== helpHint);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(line);
}
