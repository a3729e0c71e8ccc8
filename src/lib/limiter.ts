/**
 * A concurrency limit with a bounded queue: at most `concurrency` jobs run,
 * at most `queue` wait, and beyond that `run` refuses at once instead of letting
 * work pile up (the caller turns that into a 503).
 */
export class Saturated extends Error {
  override readonly name = 'Saturated';
}

export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new Saturated('too many jobs waiting');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
