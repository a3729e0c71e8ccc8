/**
 * The state `acl-token list|show` prints and the one `check` refuses by are one
 * function (it used to be computed in the CLI and again in gating/).
 */
import { describe, expect, it } from 'vitest';
import { aclTokenState, clientTokenState } from '../../src/gating/acl-tokens.ts';

const now = 1_000_000;

describe('aclTokenState', () => {
  const live = { revoked_at: null, expires_at: null, max_users: 0, uses: 7 };

  it('is active without an expiry, and without a limit when max_users is 0', () => {
    expect(aclTokenState(live, now)).toBe('active');
    expect(aclTokenState({ ...live, max_users: 8, expires_at: now + 1 }, now)).toBe('active');
  });

  it('is used up when uses reached max_users, expired from expires_at on, revoked before anything else', () => {
    expect(aclTokenState({ ...live, max_users: 7 }, now)).toBe('used up');
    expect(aclTokenState({ ...live, max_users: 7, expires_at: now }, now)).toBe('expired');
    expect(aclTokenState({ ...live, max_users: 7, expires_at: now, revoked_at: now - 5 }, now)).toBe('revoked');
  });
});

describe('clientTokenState', () => {
  it('is active until expires_at (none = for good), expired from then on, revoked first', () => {
    expect(clientTokenState({ revoked_at: null, expires_at: null }, now)).toBe('active');
    expect(clientTokenState({ revoked_at: null, expires_at: now + 1 }, now)).toBe('active');
    expect(clientTokenState({ revoked_at: null, expires_at: now }, now)).toBe('expired');
    expect(clientTokenState({ revoked_at: now - 1, expires_at: now }, now)).toBe('revoked');
  });
});
