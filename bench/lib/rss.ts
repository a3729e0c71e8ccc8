/**
 * Resident memory of a server process, read from /proc/<pid>/status (VmRSS)
 * every 250 ms while a sampler runs. Linux only; elsewhere readings are null.
 * The driver names the phase (the workload) before each one starts
 * (`phase`), so the sampler keeps the peak of each phase and says which one
 * the overall peak was first reached in. RSS a phase grew and kept (a grown
 * heap, malloc arenas) counts in the phases after it too: a phase's peak is
 * the most the process held while it ran, not what it added.
 */
import { readFileSync } from 'node:fs';

export function readRssMB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/**
 * Each process's lowest reading from `fromMs` to `untilMs` after now (every
 * 500 ms): its resident memory at rest, once V8's memory reducer has run, at
 * whatever moment in that window it ran. Null for a process never read.
 */
export async function restingRss<K extends string>(pids: Record<K, number>, fromMs: number, untilMs: number): Promise<Record<K, number | null>> {
  const started = performance.now();
  const lowest = Object.fromEntries(Object.keys(pids).map((k) => [k, null])) as Record<K, number | null>;
  await new Promise((resolve) => setTimeout(resolve, fromMs));
  while (performance.now() - started < untilMs) {
    for (const key of Object.keys(pids) as K[]) {
      const mb = readRssMB(pids[key]);
      const before = lowest[key];
      if (mb !== null && (before === null || mb < before)) lowest[key] = mb;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return lowest;
}

export class RssSampler {
  private peak: number | null = null;
  private peakPhase: string | null = null;
  private current: string;
  private readonly peaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 250,
    firstPhase = 'before the workloads',
  ) {
    this.current = firstPhase;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  get peakMB(): number | null {
    return this.peak;
  }

  /** The phase the overall peak was read in (null before any reading). */
  get peakDuring(): string | null {
    return this.peakPhase;
  }

  /** The peak of every phase that had a reading, in the order they ran. */
  get peakByPhase(): Record<string, number> {
    return Object.fromEntries(this.peaks);
  }

  /** From now on readings count for `name`; one last reading closes the phase before. */
  phase(name: string): void {
    this.sample();
    this.current = name;
  }

  stop(): number | null {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    const mb = readRssMB(this.pid);
    if (mb === null) return;
    const before = this.peaks.get(this.current);
    if (before === undefined || mb > before) this.peaks.set(this.current, mb);
    if (this.peak === null || mb > this.peak) {
      this.peak = mb;
      this.peakPhase = this.current;
    }
  }
}
