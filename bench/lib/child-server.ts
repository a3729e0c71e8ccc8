/**
 * Starting a bench server script in its own process (`node --import tsx`), so
 * the load generator does not share an event loop with the server under test.
 * Waits (bounded) for the JSON line announcing the URL; `stop` sends SIGTERM
 * and, if the process lingers, SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ChildServer {
  name: string;
  url: string;
  pid: number;
  /** The whole announced JSON line (a server may add fields, e.g. secrets the driver needs). */
  announced: Record<string, unknown>;
  stop(): Promise<void>;
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Announced {
  url: string;
  pid: number;
  announced: Record<string, unknown>;
}

function parseAnnouncement(line: string): Announced | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && 'url' in value && 'pid' in value && typeof value.url === 'string' && typeof value.pid === 'number') {
      return { url: value.url, pid: value.pid, announced: value as Record<string, unknown> };
    }
  } catch {
    // Not our line (a library printing to stdout); keep waiting.
  }
  return undefined;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface ChildOptions {
  /** Extra Node flags for the server, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] when looking for a slow step. */
  nodeArgs?: string[];
  /** Arguments for the server script itself. */
  args?: string[];
  timeoutMs?: number;
  /** Every stdout line after the announcement (the server's JSON log lines), e.g. to count SQLITE_BUSY. */
  onLine?: (line: string) => void;
}

export async function startChildServer(name: string, script: string, options: ChildOptions = {}): Promise<ChildServer> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(projectRoot, script), ...(options.args ?? [])], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let stopping = false;
  // A server that dies under load is told at once (its workloads then fail with "fetch failed").
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`  [${name}] exited during the run (code ${code}, signal ${signal})\n`);
  });
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited(child);
    clearTimeout(timer);
  };
  const { stdout, stderr } = child;
  if (!stdout || !stderr) throw new Error(`${name}: no pipes to the child process`);
  // The server's own warnings and errors, marked with its name.
  createInterface({ input: stderr }).on('line', (line) => process.stderr.write(`  [${name}] ${line}\n`));
  // Stdout is read to the end (not only the first line) so the child never blocks on a full pipe.
  const lines = createInterface({ input: stdout });
  let announcedYet = false;
  try {
    const found = await new Promise<Announced>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no URL announced within ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name}: exited before announcing its URL (code ${code}, signal ${signal})`));
      });
      lines.on('line', (line) => {
        if (announcedYet) {
          options.onLine?.(line);
          return;
        }
        const announced = parseAnnouncement(line);
        if (announced) {
          announcedYet = true;
          clearTimeout(timer);
          resolve(announced);
        }
      });
    });
    return { name, url: found.url, pid: found.pid, announced: found.announced, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
