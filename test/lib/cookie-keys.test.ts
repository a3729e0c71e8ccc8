/**
 * The cookie signer Koa and oidc-provider are given (lib/cookie-keys.ts): the
 * same signatures as keygrip's (the package Koa would use), so cookies signed
 * before still verify; the right key found by position; anything else refused.
 */
import Keygrip from 'keygrip';
import { describe, expect, it } from 'vitest';
import { CookieKeys } from '../../src/lib/cookie-keys.ts';

describe('cookie keys', () => {
  const keys = new CookieKeys(['new key', 'old key']);
  const data = 'gh.session=abc123';

  it("signs as keygrip does, with the first key, and verifies keygrip's signatures with either key", () => {
    const keygrip = new Keygrip(['new key', 'old key']);
    expect(keys.sign(data)).toBe(keygrip.sign(data));
    expect(keys.index(data, new Keygrip(['old key']).sign(data))).toBe(1);
    expect(keys.verify(data, keygrip.sign(data))).toBe(true);
  });

  it('refuses a signature of other data, of another key, cut short or empty', () => {
    const signature = keys.sign(data);
    expect(keys.index('gh.session=abc124', signature)).toBe(-1);
    expect(keys.verify(data, new CookieKeys(['someone else']).sign(data))).toBe(false);
    expect(keys.verify(data, signature.slice(0, -1))).toBe(false);
    expect(keys.verify(data, '')).toBe(false);
  });

  it('cannot sign without a key', () => {
    expect(() => new CookieKeys([]).sign(data)).toThrow('no cookie keys');
  });
});
