/** One e-mail syntax check for sign-up, join requests and `user create` (they had three copies of the regex). */
import { describe, expect, it } from 'vitest';
import { isEmail } from '../../src/lib/email.ts';

describe('isEmail', () => {
  it('accepts an address with one @ and a dot in the domain', () => {
    expect(isEmail('ada@example.org')).toBe(true);
    expect(isEmail('a.b+tag@sub.example.co')).toBe(true);
  });

  it('refuses a missing @, a second @, spaces, or a domain without a dot', () => {
    for (const bad of ['', 'ada', 'ada@', '@example.org', 'ada@@example.org', 'a da@example.org', 'ada@example', 'ada@exam ple.org']) {
      expect(isEmail(bad), bad).toBe(false);
    }
  });

  it('refuses an address longer than 320 characters', () => {
    const domain = `${'d'.repeat(300)}.org`;
    expect(isEmail(`${'a'.repeat(320 - domain.length - 1)}@${domain}`)).toBe(true);
    expect(isEmail(`${'a'.repeat(321 - domain.length - 1)}@${domain}`)).toBe(false);
  });
});
