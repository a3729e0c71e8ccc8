/**
 * One agent at a time per state file, across processes. A login state holds a
 * refresh token that rotates on every use, and this server treats a second
 * use of a spent refresh token as theft and revokes the whole sign-in: two
 * `agent token` runs refreshing at once would sign the device out. So whoever
 * refreshes holds `FILE.lock` (created with O_EXCL, holding its pid), re-reads
 * the file inside it, and writes the rotated token before letting go.
 *
 * A lock whose process is gone (a crash, a power cut) is taken over. Two
 * agents taking over the same stale lock in the same instant could both win;
 * that needs a crash and two runs racing right after it, and costs at worst
 * one sign-in, so a plain file is enough here (no flock in Node's fs).
 *
 * Part of src/agent/ (the device side): depends only on errors.ts.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatehouseError } from '../errors.ts';

const retryMs = 100;
/** A lock older than this is stale even when its pid is alive (the pid was reused after a reboot). */
const staleMs = 10 * 60 * 1000;

/** True when process `pid` exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of `lock` when it still counts, undefined when there is none or it may be taken over. */
function holder(lock: string): number | undefined {
  let text: string;
  let age: number;
  try {
    text = readFileSync(lock, 'utf8');
    age = Date.now() - statSync(lock).mtimeMs;
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  // Empty (its writer is between open and write) and young: still counts.
  if (!Number.isInteger(pid)) return age < 5_000 ? -1 : undefined;
  return alive(pid) && age < staleMs ? pid : undefined;
}

/**
 * Runs `work` while holding the lock on `file`; waits up to `waitSeconds` for
 * another agent to finish with it.
 */
export async function withStateLock<T>(file: string, waitSeconds: number, work: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GatehouseError('agent.state_invalid', `cannot lock state file ${file}: ${(err as Error).message}`);
      }
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    }
    const pid = holder(lock);
    if (pid === undefined) {
      // Left by a process that is gone: take it over (whoever unlinks first wins the next open).
      try {
        unlinkSync(lock);
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new GatehouseError(
        'agent.state_invalid',
        `state file ${file} is in use by another gatehouse agent${pid > 0 ? ` (process ${pid})` : ''}; try again, or remove ${lock} if no agent is running`,
      );
    }
    await sleep(retryMs);
  }
  try {
    return await work();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // Already gone.
    }
  }
}
