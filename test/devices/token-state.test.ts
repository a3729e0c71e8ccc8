/** The state `device-token list|show` prints, computed in src/devices/ (it used to be a CLI ternary). */
import { describe, expect, it } from 'vitest';
import { deviceTokenState } from '../../src/devices/tokens.ts';

const now = 1_000_000;
const live = { revoked_at: null, expires_at: now + 1, max_devices: 0, uses: 3 };

describe('deviceTokenState', () => {
  it('is active before its expiry, without a limit when max_devices is 0', () => {
    expect(deviceTokenState(live, now)).toBe('active');
    expect(deviceTokenState({ ...live, max_devices: 4 }, now)).toBe('active');
  });

  it('is used up when uses reached max_devices, expired from expires_at on, revoked before anything else', () => {
    expect(deviceTokenState({ ...live, max_devices: 3 }, now)).toBe('used up');
    expect(deviceTokenState({ ...live, max_devices: 3, expires_at: now }, now)).toBe('expired');
    expect(deviceTokenState({ ...live, max_devices: 3, expires_at: now, revoked_at: now - 1 }, now)).toBe('revoked');
  });
});
