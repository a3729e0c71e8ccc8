/**
 * For the `gatehouse agent` suites: leftover temp files, and a
 * child process whose stdout can be read while it still runs (`agent login`
 * prints the user code, then waits for a person).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { binPath, childEnv, type RunResult } from '../cli/gatehouse.ts';

/** Files in `dir` that a write left behind (`.NAME.xxxx.tmp`). */
export const tempFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

/** The answer shapes live in one place; re-exported for the agent suites that import them from here. */
export { expectRefusal, expectSuccess, literal } from './cli-answers.ts';

/** A running `gatehouse` whose stdout lines can be awaited as they come. */
export interface LiveRun {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first stdout line matching `test` (already printed or yet to come); rejects if the process ends first. */
  line(test: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process ends, with everything it printed. */
  done: Promise<RunResult>;
  stdout(): string;
}

export function startGatehouse(args: string[], options: { cwd: string; timeoutMs?: number }): LiveRun {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd,
    env: childEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const wake of waiters) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end();
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const wake of waiters) wake();
      if (signal === 'SIGKILL') reject(new Error(`gatehouse ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    done,
    stdout: () => stdout,
    line(test, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          // Complete lines only: a line still being written is not there yet.
          const found = stdout.split('\n').slice(0, -1).find(test);
          if (found !== undefined) return finish(() => resolve(found));
          if (ended()) return finish(() => reject(new Error(`gatehouse ${args.join(' ')} ended without the line\nstdout: ${stdout}\nstderr: ${stderr}`)));
          return undefined;
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no such line within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
