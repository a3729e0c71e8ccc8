/**
 * TOTP (RFC 6238) as authenticator apps expect it: 30 s steps, 6 digits,
 * HMAC-SHA-1, secrets from otplib (base32, 160 bits). Time is always the
 * injected clock's, handed to otplib explicitly (`epoch`): never Date.now.
 * No state here: the replay guard is the factor's `last_step` (./factors.ts).
 */
import { generate, generateSecret, generateURI } from 'otplib';
import QRCode from 'qrcode';
import { constantTimeEqual } from '../../lib/secrets.ts';

export const totpPeriodSeconds = 30;
export const totpDigits = 6;
/** Steps accepted either side of the current one (clock drift of the phone): ±1 step. */
export const totpWindow = 1;

export function newTotpSecret(): string {
  return generateSecret();
}

/** The time step `nowMs` falls in. */
export function timeStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / totpPeriodSeconds);
}

/** The code of `step` for `secret` (tests compute codes the same way). */
export async function totpCode(secret: string, step: number): Promise<string> {
  return generate({ secret, epoch: step * totpPeriodSeconds, period: totpPeriodSeconds, digits: totpDigits, algorithm: 'sha1' });
}

/** The step (within ±`totpWindow` of now) whose code `code` is, or undefined. */
export async function matchTotp(secret: string, code: string, nowMs: number): Promise<number | undefined> {
  const clean = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(clean)) return undefined;
  const now = timeStep(nowMs);
  let matched: number | undefined;
  // Every candidate is computed and compared, so the time taken does not say which step matched.
  for (let delta = -totpWindow; delta <= totpWindow; delta += 1) {
    if (constantTimeEqual(await totpCode(secret, now + delta), clean)) matched ??= now + delta;
  }
  return matched;
}

/** The otpauth:// URI authenticator apps read from the QR code. */
export function totpUri(secret: string, issuer: string, label: string): string {
  return generateURI({ issuer, label, secret, algorithm: 'sha1', digits: totpDigits, period: totpPeriodSeconds });
}

/**
 * The QR code of `uri` as an SVG: presentation attributes only (no style=, the CSP
 * stays strict), `role="img"` and a label for screen readers.
 */
export async function qrSvg(uri: string, label: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', margin: 2, width: 224, errorCorrectionLevel: 'M' });
  const safe = label.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return svg.replace('<svg ', `<svg role="img" aria-label="${safe}" class="qr" `).trim();
}

/** The secret in groups of four, easier to type into an app by hand. */
export function groupedSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}
