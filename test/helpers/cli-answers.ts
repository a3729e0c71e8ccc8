/**
 * The shapes of a `gatehouse` answer, the same whether the run was a child
 * process (test/cli/gatehouse.ts) or in this process (test/cli/in-process.ts):
 * a refusal (one line on stderr, an exit code, no stack trace), a success, and
 * a successful `--json` run.
 */
import { expect } from 'vitest';
import { helpHint, messageLines, stackLine, type RunResult } from '../cli/gatehouse.ts';

export interface RefusalOptions {
  /** The command may have printed something on stdout before it refused (e.g. a user code). */
  stdout?: boolean;
}

/**
 * A refusal: the exit code, nothing on stdout (unless allowed), no stack trace,
 * and exactly one line from Gatehouse matching `line` (Commander's help hint
 * after a usage error is not counted). Returns Gatehouse's lines.
 */
export function expectRefusal(result: RunResult, exitCode: number, line: RegExp, options: RefusalOptions = {}): string[] {
  expect(result.stderr).not.toMatch(stackLine);
  expect(result.code, result.stderr).toBe(exitCode);
  if (!options.stdout) expect(result.stdout).toBe('');
  const lines = messageLines(result.stderr).filter((l) => l !== helpHint);
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(line);
  return lines;
}

/** A success: exit 0, nothing from Gatehouse on stderr. */
export function expectSuccess(result: RunResult): void {
  expect(messageLines(result.stderr), result.stderr).toEqual([]);
  expect(result.code).toBe(0);
}

/** A successful `--json` run: exit 0, nothing on stderr, stdout parsed. */
export function parsed<T>(result: RunResult): T {
  expectSuccess(result);
  return JSON.parse(result.stdout) as T;
}

/** `s` with regular-expression characters escaped, to build a RegExp around a URL or path. */
export const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
