/**
 * Device tokens (SPEC 6.2): the signed registration JWT one batch of firmware
 * carries. HS256 with `deviceRegistration.jwt.secret`, its jti naming a
 * `device_token` row; signing, checking a presented one with a plain-words
 * refusal, and the state `device-token list|show` prints. Depends on lib,
 * errors and the db row type.
 */
import type { KeyObject } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { DeviceTokenRow } from '../db/repos/device-tokens.ts';
import { GatehouseError } from '../errors.ts';

/** The key and issuer the JWTs are signed and checked with (from `deviceRegistration.jwt`). */
export interface DeviceTokenSigning {
  secret: KeyObject;
  issuer: string;
}

/** A device clock may run a little ahead; beyond this an `iat` in the future is refused. */
const clockToleranceSec = 30;

export const refuseDeviceToken = (why: string) => new GatehouseError('device.invalid_token', why);

/**
 * What a device token can still do. A revoked token reads as revoked even after
 * it expired; `max_devices` 0 means no limit. Enrolment still takes a use by a
 * conditional UPDATE; this is the view, not the count.
 */
export function deviceTokenState(
  row: Pick<DeviceTokenRow, 'revoked_at' | 'expires_at' | 'max_devices' | 'uses'>,
  now: number,
): 'active' | 'revoked' | 'expired' | 'used up' {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at <= now) return 'expired';
  if (row.max_devices > 0 && row.uses >= row.max_devices) return 'used up';
  return 'active';
}

/** The JWT for a new token row: jti = row id, `exp` = the row's expiry, the enrolment URL as a claim for the firmware. */
export function signDeviceToken(row: DeviceTokenRow, signing: DeviceTokenSigning, registrationUrl: string, now: number): Promise<string> {
  return new SignJWT({ registration_url: registrationUrl, ...(row.max_devices ? { max_devices: row.max_devices } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(signing.issuer)
    .setJti(row.id)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(row.expires_at / 1000))
    .sign(signing.secret);
}

/**
 * Checks a presented JWT (signature, algorithm, issuer, expiry, `iat` not in
 * the future) and returns its jti; whether that names a live row is the
 * caller's question.
 */
export async function verifyDeviceToken(token: string, signing: DeviceTokenSigning, now: number): Promise<string> {
  let claims: { jti?: string; iat?: number };
  try {
    ({ payload: claims } = await jwtVerify(token, signing.secret, {
      issuer: signing.issuer,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'jti', 'iss'],
      currentDate: new Date(now),
    }));
  } catch (err) {
    throw explain(err, signing.issuer, token);
  }
  if (typeof claims.iat === 'number' && claims.iat > Math.floor(now / 1000) + clockToleranceSec)
    throw refuseDeviceToken('the device token was issued in the future (check the device clock)');
  return String(claims.jti);
}

function explain(err: unknown, issuer: string, token: string): GatehouseError {
  if (err instanceof joseErrors.JWTExpired) return refuseDeviceToken('the device token has expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refuseDeviceToken('the device token signature is not valid');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    let alg = 'an unknown algorithm';
    try {
      alg = String(decodeProtectedHeader(token).alg);
    } catch {
      // keep the generic words
    }
    return refuseDeviceToken(
      alg === 'none'
        ? 'the device token is not signed (alg none); it must be signed with HS256'
        : `the device token is signed with ${alg}; it must be signed with HS256`,
    );
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return refuseDeviceToken(`the device token was not issued for this server (expected issuer ${issuer})`);
    return refuseDeviceToken(`the device token's "${err.claim}" claim is missing or not valid`);
  }
  return refuseDeviceToken('the device token is not a valid signed JWT');
}
