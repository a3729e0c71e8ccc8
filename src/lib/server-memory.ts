/**
 * Two settings that keep a Gatehouse server's resident memory down without
 * costing throughput (measured in bench/README.md, "Peak memory"):
 *
 * - `mallocEnv`: glibc's malloc raises its mmap threshold to the size of any
 *   mmapped block it frees (up to 32 MiB), so after the first argon2id hash
 *   (19 MiB, ../identity/passwords.ts) every later one is carved from the heap
 *   of the libuv thread that runs it and stays resident there when freed: one
 *   19 MiB block per thread-pool thread (4), ~80 MB kept after a few logins. A
 *   fixed threshold (4 MiB) keeps those blocks mmapped, so each is returned when
 *   its hash ends. glibc reads it when a process starts, so it must be in the
 *   environment of the process to be started: the cluster's workers get it
 *   (../http/cluster.ts), and so do the bench's Gatehouse servers; a single
 *   process (`gatehouse serve`) needs it from whoever starts it (systemd
 *   `Environment=`, Docker `ENV`, the shell). One the operator set wins.
 * - `tuneHeap`: V8 lets the old generation grow to up to 4x what survived the
 *   last full collection before it collects again; under a high request rate
 *   short-lived objects that outlive two scavenges pile up there (old space
 *   35 -> 138 MB under client_credentials, back to ~60 after each full GC). A
 *   fixed growing factor of 1.5 collects sooner. V8 reads it at each full GC, so
 *   it can be set from inside the process (bin/gatehouse.js does, before the
 *   CLI loads); `--heap-growing-percent` on the command line wins.
 */
import v8 from 'node:v8';

/** The glibc malloc settings for a server process to be started (added to its environment, unless already set there). */
export const mallocEnv: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024) };

/** `mallocEnv` minus what `env` already sets: the operator's own values stay. */
export function mallocEnvFor(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(mallocEnv).filter(([name]) => env[name] === undefined));
}

/** The old generation's growing factor, as V8's `--heap-growing-percent`: the next full GC once it is 1.5x what the last one kept. */
export const heapGrowingPercent = 50;

/** Sets V8's heap growing factor for this process, unless its command line set one. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}
