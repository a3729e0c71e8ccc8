import { describe, expect, it } from 'vitest';
import { defaultHashConcurrency } from '../../src/identity/passwords.ts';

describe('default password hash concurrency', () => {
  it("is libuv's thread pool size, and at least one more than the cores", () => {
    expect(defaultHashConcurrency(2, 4)).toBe(4);
    expect(defaultHashConcurrency(1, 4)).toBe(4);
    expect(defaultHashConcurrency(2, 2)).toBe(3);
    expect(defaultHashConcurrency(8, 4)).toBe(9);
    expect(defaultHashConcurrency(4, 16)).toBe(16);
  });
});
