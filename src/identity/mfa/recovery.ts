/**
 * Recovery codes: 10 per person, shown once when made, stored as SHA-256 hashes
 * (each code has 60 random bits, so a fast hash is enough), each usable once.
 * Format `xxxx-xxxx-xxxx` (lower-case letters and digits without look-alikes);
 * what a person types is compared without case, spaces or dashes.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../lib/secrets.ts';

export const recoveryCodeCount = 10;
const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';

export function newRecoveryCode(): string {
  const bytes = randomBytes(12);
  let out = '';
  for (let i = 0; i < 12; i += 1) out += alphabet[bytes[i]! % alphabet.length];
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8)}`;
}

export function newRecoveryCodes(count = recoveryCodeCount): string[] {
  return Array.from({ length: count }, newRecoveryCode);
}

export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, '');
}

export function hashRecoveryCode(code: string): string {
  return sha256(`gatehouse-recovery:${normalizeRecoveryCode(code)}`);
}
