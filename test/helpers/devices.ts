/**
 * Device self-enrollment over raw HTTP (SPEC 6.2), for tests that need exact
 * statuses and bodies: the server config, POST `<issuer>/api/register-device`
 * with a JSON body (or any raw body and content type), registration JWTs
 * crafted with jose (right or wrong secret, algorithm, issuer, claims), and
 * the CLI run in this process with its output captured.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { Gatehouse } from '../../src/context.ts';
import { type Answer } from './registration.ts';
import { testClients } from './server.ts';

/** The HS256 secret the test servers sign and verify device tokens with (at least 32 bytes). */
export const deviceJwtSecret = randomBytes(32).toString('base64url');
export const deviceJwtIssuer = 'example.com';
export const secretKey = (secret: string = deviceJwtSecret): Uint8Array => new TextEncoder().encode(secret);

/**
 * Server config for device tests (`raw` is what config.yaml would hold). All
 * requests come from 127.0.0.1, so the per-IP limit is raised unless a test sets it.
 */
export function deviceConfig(deviceRegistration: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    clients: [testClients.service],
    deviceRegistration: { enabled: true, jwt: { secret: deviceJwtSecret, issuer: deviceJwtIssuer }, rateLimit: 100_000, ...deviceRegistration },
    ...rest,
  };
}

export const registerDeviceUrl = (issuer: string): string => `${issuer}/api/register-device`;

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the test looks at `text`.
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** POST `{ token, manufacturerId }` (any JSON value) to the enrollment endpoint. */
export async function enroll(issuer: string, body: unknown): Promise<Answer> {
  return answer(await fetch(registerDeviceUrl(issuer), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
}

/** Any request to the enrollment endpoint: a raw body (string or stream) with its own content type, or none. */
export async function enrollRaw(
  issuer: string,
  init: { method?: string; body?: string | ReadableStream<Uint8Array> | undefined; contentType?: string | undefined },
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.contentType) headers['content-type'] = init.contentType;
  const request: RequestInit & { duplex?: 'half' } = { method: init.method ?? 'POST', headers, body: init.body ?? null };
  if (init.body instanceof ReadableStream) request.duplex = 'half';
  return answer(await fetch(registerDeviceUrl(issuer), request));
}

/** A manufacturer id nobody used yet. */
export const newManufacturerId = (prefix = 'sn'): string => `${prefix}-${randomUUID()}`;

/**
 * A registration JWT crafted here (HS256 with the server's secret unless told
 * otherwise); `claims` override the usual iss / iat / exp / jti; `undefined`
 * removes a claim.
 */
export async function craftToken(claims: Record<string, unknown>, options: { secret?: string | Uint8Array | CryptoKey; alg?: string } = {}): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iss: deviceJwtIssuer, iat: nowSec, exp: nowSec + 3600, jti: randomUUID(), ...claims };
  for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key];
  const key = options.secret === undefined || typeof options.secret === 'string' ? secretKey(options.secret) : options.secret;
  return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' }).sign(key);
}

/** Audit rows of one action, details parsed. */
export async function auditOf(
  gh: Pick<Gatehouse, 'db'>,
  action: string,
): Promise<{ actor: string; subject: string | null; details: Record<string, unknown> | null }[]> {
  const rows = (await gh.db('audit_log').where({ action }).orderBy('id')) as { actor: string; subject: string | null; details: string | null }[];
  return rows.map((r) => ({ actor: r.actor, subject: r.subject, details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null }));
}
