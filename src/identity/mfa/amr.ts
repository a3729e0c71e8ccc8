/**
 * Authentication method references (RFC 8176) and what counts as a second
 * factor. Used for an upstream provider's sign-in (`oidc` connector): its ID
 * token's `amr` is passed through, registered names only, and a sign-in whose
 * methods cover two kinds of factor (or that says `mfa`) has given Gatehouse's
 * second factor already (identity/mfa/README.md).
 */
import { mfaAcrValues } from './factors.ts';

/** The RFC 8176 registry (section 2 and the IANA "Authentication Method Reference Values"). Anything else is dropped. */
export const registeredAmr: ReadonlySet<string> = new Set([
  'face',
  'fpt',
  'geo',
  'hwk',
  'iris',
  'kba',
  'mca',
  'mfa',
  'otp',
  'pin',
  'pop',
  'pwd',
  'rba',
  'retina',
  'sc',
  'sms',
  'swk',
  'tel',
  'user',
  'vbm',
  'wia',
]);

/**
 * The kinds of factor (NIST SP 800-63B): something you know, something you
 * have, something you are. `user` is here as Gatehouse's own passkeys use it:
 * the authenticator verified the person (PIN or biometric). `fed`, `geo`,
 * `mca`, `rba` and `wia` say how, not which factor, and count as none.
 */
const kindOf: ReadonlyMap<string, 'know' | 'have' | 'are'> = new Map([
  ['pwd', 'know'],
  ['pin', 'know'],
  ['kba', 'know'],
  ['otp', 'have'],
  ['hwk', 'have'],
  ['swk', 'have'],
  ['sms', 'have'],
  ['tel', 'have'],
  ['sc', 'have'],
  ['pop', 'have'],
  ['user', 'are'],
  ['fpt', 'are'],
  ['face', 'are'],
  ['iris', 'are'],
  ['retina', 'are'],
  ['vbm', 'are'],
]);

/**
 * An upstream ID token's `amr` as Gatehouse passes it on: registered names
 * only, each once, in the upstream's order; plus `mfa` when the upstream's
 * `acr` is one of Gatehouse's own multi-factor values (`urn:gatehouse:mfa`,
 * OpenID PAPE multi-factor).
 */
export function upstreamAmr(amr: unknown, acr: unknown): string[] {
  const names = Array.isArray(amr) ? amr.filter((v): v is string => typeof v === 'string' && registeredAmr.has(v)) : [];
  if (typeof acr === 'string' && mfaAcrValues.includes(acr)) names.push('mfa');
  return [...new Set(names)];
}

/** Whether these methods are a second factor: `mfa`, or methods of two different kinds (`pwd` + `otp`, `hwk` + `user`, `pwd` + `fpt`…). */
export function assertsSecondFactor(amr: readonly string[]): boolean {
  if (amr.includes('mfa')) return true;
  return new Set(amr.map((v) => kindOf.get(v)).filter((k) => k !== undefined)).size >= 2;
}
