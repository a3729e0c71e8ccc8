/** Random secrets, their hashes and constant-time comparison. No domain words here. */
import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** A URL-safe secret with `bytes` of randomness (default 32 bytes = 256 bits). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * A random id that is safe on a command line: URL-safe, 128 bits, and never
 * starting with `-` or `_` (a leading dash would read as an option).
 */
export function randomId(bytes = 16): string {
  const id = randomSecret(bytes);
  return /^[A-Za-z0-9]/.test(id) ? id : `c${id.slice(1)}`;
}

export function newId(): string {
  return randomUUID();
}

/** SHA-256, hex: how secrets that are looked up (tokens, links) are stored. */
export function sha256(value: string): string {
  // One-shot: no Hash object per call (every registration and token lookup hashes).
  return hash('sha256', value, 'hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
