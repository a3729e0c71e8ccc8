/**
 * V8's old generation, kept smaller at no throughput cost (measured in
 * bench/README.md, "Peak memory"): V8 lets it grow to up to 4x what survived the
 * last full collection before it collects again; under a high request rate
 * short-lived objects that outlive two scavenges (those of requests in flight)
 * pile up there (old space 35 -> 138 MB under client_credentials, back to ~60
 * after each full GC). A fixed growing factor of 1.5 collects sooner. V8 reads
 * it at each full GC, so it can be set from inside the process (src/main.ts
 * does, before the CLI loads; it is not allowed in NODE_OPTIONS);
 * `--heap-growing-percent` on the command line wins.
 */
import v8 from 'node:v8';

/** The old generation's growing factor, as V8's `--heap-growing-percent`: the next full GC once it is 1.5x what the last one kept. */
export const heapGrowingPercent = 50;

/** Sets V8's heap growing factor for this process, unless its command line set one. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}
