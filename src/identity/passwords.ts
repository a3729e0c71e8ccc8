/**
 * Password hashing with argon2id (OWASP: m=19 MiB, t=2, p=1). Hashing is costly
 * on purpose, so it runs under a limit (by default one job per core, and one
 * more) with a bounded queue; past the queue, callers get `overloaded` (a 503
 * page) instead of a pile-up. The one more: a hash that ends frees its libuv
 * thread at once, but the next one starts only when the event loop gets to the
 * ending one's callback; one already running keeps every core hashing meanwhile
 * (bench/README.md: 2 instead of 3 on 2 cores left the machine idle 2-3 % of a
 * login run).
 */
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { GatehouseError } from '../errors.ts';
import { Limiter, Saturated } from '../lib/limiter.ts';

const params = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export class Passwords {
  private readonly limiter: Limiter;
  // Verified against when the account does not exist, so timing does not tell.
  private dummyHash: Promise<string> | undefined;

  constructor(options: { concurrency?: number | undefined; queue: number }) {
    this.limiter = new Limiter(options.concurrency ?? availableParallelism() + 1, options.queue);
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
