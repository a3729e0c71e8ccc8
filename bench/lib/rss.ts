/**
 * Resident memory of a server process, read from /proc/<pid>/status (VmRSS)
 * every 250 ms while a sampler runs. Linux only; elsewhere readings are null.
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

export class RssSampler {
  private peak: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  get peakMB(): number | null {
    return this.peak;
  }

  stop(): number | null {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    const mb = readRssMB(this.pid);
    if (mb !== null && (this.peak === null || mb > this.peak)) this.peak = mb;
  }
}
