/**
 * Generated client ids are typed on command lines (`gatehouse client disable ID`):
 * one starting with `-` was read as an option (found by CI, ~1 in 32 ids).
 */
import { describe, expect, it } from 'vitest';
import { randomId } from '../../src/lib/secrets.ts';

describe('randomId', () => {
  it('never starts with - or _, and keeps 128 bits in URL-safe characters', () => {
    const ids = Array.from({ length: 5000 }, () => randomId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
