/**
 * Password hashing with argon2id (OWASP: m=19 MiB, t=2, p=1). Hashing is costly
 * on purpose, so it runs under a limit with a bounded queue; past the queue,
 * callers get `overloaded` (a 503 page) instead of a pile-up. The limit, by
 * default: as many hashes as libuv's thread pool runs at once (4, or
 * `UV_THREADPOOL_SIZE`; beyond that a hash would wait inside libuv, out of the
 * queue's bound), and at least one more than the cores: a hash that ends frees
 * its thread at once, but the next one starts only when the event loop gets to
 * the ending one's callback (bench/README.md: one per core left a 2-core
 * machine idle 2-3 % of a login run, and gave hashing a smaller share of the
 * cores than oidc-provider's own unlimited hashing has).
 */
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { GatehouseError } from '../errors.ts';
import { Limiter, Saturated } from '../lib/limiter.ts';

const params = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** The default limit of hashes at once (see above). */
export function defaultHashConcurrency(cores: number, threadPool = 4): number {
  return Math.max(cores + 1, threadPool);
}

export class Passwords {
  private readonly limiter: Limiter;
  // Verified against when the account does not exist, so timing does not tell.
  private dummyHash: Promise<string> | undefined;

  /** `threadPool`: libuv's thread pool size, when `UV_THREADPOOL_SIZE` sets it (the default limit counts with it). */
  constructor(options: { concurrency?: number | undefined; queue: number; threadPool?: number | undefined }) {
    this.limiter = new Limiter(options.concurrency ?? defaultHashConcurrency(availableParallelism(), options.threadPool), options.queue);
  }

  hash(password: string): Promise<string> {
    return this.limited(() => argon2.hash(password, params));
  }

  async verify(hash: string | undefined, password: string): Promise<boolean> {
    if (!hash) {
      this.dummyHash ??= argon2.hash('not a password', params);
      const dummy = await this.dummyHash;
      await this.limited(() => argon2.verify(dummy, password));
      return false;
    }
    return this.limited(() => argon2.verify(hash, password));
  }

  private async limited<T>(job: () => Promise<T>): Promise<T> {
    try {
      return await this.limiter.run(job);
    } catch (err) {
      if (err instanceof Saturated) throw new GatehouseError('overloaded', 'The server is busy signing people in. Please try again in a moment.');
      throw err;
    }
  }
}

export function checkPasswordStrength(password: string): void {
  if (password.length < 8) throw new GatehouseError('input.invalid', 'The password must be at least 8 characters long.');
  if (password.length > 1024) throw new GatehouseError('input.invalid', 'The password is too long (1024 characters at most).');
}
