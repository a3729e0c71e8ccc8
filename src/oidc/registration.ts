/**
 * Gatehouse's hand on oidc-provider's registration endpoint (RFC 7591 / 7592).
 * oidc-provider does the protocol; in front of it this middleware
 * - on POST: checks the registration token and policies and reserves the
 *   client (Registrar.reserve), then lets oidc-provider store it under the
 *   reserved id, and settles (undo on failure, approval mail on success);
 * - on PUT: keeps the client inside the rules it was registered under;
 * - on GET: rotates the registration access token, as Keycloak does (oidc-provider
 *   rotates it on PUT itself);
 * - on DELETE: forgets Gatehouse's record of the client.
 * Refusals are OAuth JSON errors (`invalid_token`, `invalid_client_metadata`,
 * `invalid_redirect_uri`) with a description naming the rule.
 */
import { Readable } from 'node:stream';
import type { Context, Middleware, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import { GatehouseError } from '../errors.ts';
import { readJsonObjectBody } from '../lib/json-body.ts';
import type { RegisteredClientRow } from '../db/repos/registration.ts';
import type { Registrar, Reservation } from '../registration/registrar.ts';
import { normalizeMetadata, type Metadata } from '../registration/rules.ts';

/** oidc-provider's own body limit for JSON requests. */
const bodyLimit = 56 * 1024;

export interface RegistrationGuardOptions {
  registrar: Registrar;
  provider: Provider;
  /** The registration endpoint's path inside the provider (e.g. `/reg`). */
  path: string;
}

/** Set by a translating layer in front (the Keycloak representation): how the client is recorded, and its chosen id. */
export interface RegistrationOverrides {
  via: RegisteredClientRow['via'];
  clientId?: string;
}

const oauthErrorOf: Partial<Record<GatehouseError['code'], string>> = {
  'registration.invalid_token': 'invalid_token',
  'registration.invalid_client_metadata': 'invalid_client_metadata',
  'registration.invalid_redirect_uri': 'invalid_redirect_uri',
  already_exists: 'invalid_client_metadata',
  'input.invalid': 'invalid_request',
  // RFC 6749's code for "try again later", as oidc-provider's own endpoints answer an outage (./unavailable.ts).
  'database.unavailable': 'temporarily_unavailable',
};

export class RegistrationRefused extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export function answerOAuthError(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (status === 401) ctx.set('WWW-Authenticate', `Bearer error="${error}", error_description="${description.replace(/["\\]/g, "'")}"`);
  ctx.body = { error, error_description: description };
}

/** A registration-layer error as (status, OAuth error), or undefined for errors that are not ours to answer. */
export function asRegistrationError(err: unknown): RegistrationRefused | undefined {
  if (err instanceof RegistrationRefused) return err;
  // oidc-provider's own refusals (from Client.validate): they carry the OAuth error already.
  const oidc = err as { error?: unknown; error_description?: unknown; status?: unknown; expose?: unknown };
  if (oidc && typeof oidc.error === 'string' && oidc.expose === true) {
    return new RegistrationRefused(typeof oidc.status === 'number' ? oidc.status : 400, oidc.error, String(oidc.error_description ?? oidc.error));
  }
  if (err instanceof GatehouseError && oauthErrorOf[err.code]) {
    const status = err.code === 'registration.invalid_token' ? 401 : err.code === 'already_exists' ? 409 : err.code === 'database.unavailable' ? 503 : 400;
    return new RegistrationRefused(status, oauthErrorOf[err.code]!, err.message);
  }
  return undefined;
}

export function bearerToken(ctx: Context): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'));
  return match?.[1];
}

/** Reads a JSON object body (oidc-provider's limit), refusing anything else with `invalid_request`. */
export async function readJsonObject(ctx: Context): Promise<Metadata> {
  if (!ctx.is('application/json')) throw new RegistrationRefused(400, 'invalid_request', 'the request body must be JSON (Content-Type: application/json)');
  const body = await readJsonObjectBody(ctx.req, bodyLimit);
  if (body.ok) return body.value;
  if (body.problem === 'too_large') throw new RegistrationRefused(413, 'invalid_request', `the request body is larger than ${bodyLimit} bytes`);
  throw new RegistrationRefused(400, 'invalid_request', body.problem === 'not_json' ? 'the request body is not valid JSON' : 'the request body must be a JSON object');
}

/**
 * Hands oidc-provider a body we have read (and maybe changed): a fresh stream
 * in place of the consumed request, with a matching Content-Length.
 */
export function replayJson(ctx: Context, body: Metadata): void {
  replayBody(ctx, Buffer.from(JSON.stringify(body)), 'application/json');
}

/** The same for any body: the bytes, and the Content-Type oidc-provider is to parse them as. */
export function replayBody(ctx: Context, buffer: Buffer, contentType: string): void {
  ctx.req.headers['content-length'] = String(buffer.length);
  ctx.req.headers['content-type'] = contentType;
  const stream = Readable.from([buffer], { objectMode: false });
  ctx.req = Object.assign(stream, { headers: ctx.req.headers, method: ctx.req.method, url: ctx.req.url, socket: ctx.req.socket }) as unknown as Context['req'];
}

/** Registers with a reservation: oidc-provider stores the client under the reserved id, or the reservation is undone. */
export async function registerThrough(ctx: Context, next: Next, registrar: Registrar, reservation: Reservation): Promise<void> {
  replayJson(ctx, reservation.metadata);
  ctx.state.registration = reservation;
  let registered = false;
  try {
    await next();
    registered = ctx.status === 201;
  } finally {
    await registrar.settle(reservation, registered);
  }
}

/** Checks metadata as oidc-provider will when it stores the client (placeholders for what it adds itself). */
async function validateMetadata(provider: Provider, metadata: Metadata): Promise<void> {
  const Client = provider.Client as unknown as { needsSecret(m: Metadata): boolean; validate(m: Metadata): Promise<void> };
  const probe: Metadata = { ...metadata, client_id: 'validation-probe' };
  if (Client.needsSecret(probe)) probe.client_secret = 'validation-probe-secret-validation-probe-secret';
  await Client.validate(probe);
}

/**
 * Issues a new registration access token for a client and ends the presented
 * one. Ending it is a delete whose row count decides: of parallel reads with
 * one token, only one gets a successor.
 */
export async function rotateRegistrationAccessToken(provider: Provider, presented: string | undefined, clientId: string, consume: (token: string) => Promise<boolean>): Promise<string> {
  const old = presented ? await provider.RegistrationAccessToken.find(presented) : undefined;
  if (!presented || !old || !(await consume(presented))) throw new RegistrationRefused(401, 'invalid_token', 'invalid token provided');
  const Rat = provider.RegistrationAccessToken as unknown as new (init: { clientId: string; policies?: string[] }) => { save(): Promise<string> };
  const next = new Rat({ clientId, ...(old?.policies ? { policies: old.policies } : {}) });
  return next.save();
}

export function registrationGuard(options: RegistrationGuardOptions): Middleware {
  const { registrar, provider, path } = options;
  return async (ctx, next) => {
    if (ctx.path !== path && !ctx.path.startsWith(`${path}/`)) return next();
    const clientId = ctx.path.length > path.length + 1 ? decodeURIComponent(ctx.path.slice(path.length + 1)) : undefined;
    try {
      if (ctx.method === 'POST' && !clientId) {
        const metadata = normalizeMetadata(await readJsonObject(ctx));
        // oidc-provider's validation first, so a request it would refuse never holds a use of the token.
        await validateMetadata(provider, metadata);
        const overrides = ctx.state.registrationOverrides as RegistrationOverrides | undefined;
        const reservation = await registrar.reserve({ metadata, token: bearerToken(ctx), sourceIp: ctx.ip, via: overrides?.via ?? 'rfc7591', clientId: overrides?.clientId });
        return await registerThrough(ctx, next, registrar, reservation);
      }
      if (ctx.method === 'PUT' && clientId) {
        // The caller first (RFC 7592 §2.2): an unauthenticated PUT must not learn the template the client was registered under.
        if ((await provider.RegistrationAccessToken.find(bearerToken(ctx) ?? ''))?.clientId !== clientId) throw new RegistrationRefused(401, 'invalid_token', 'invalid token provided');
        const metadata = await registrar.checkUpdate(clientId, normalizeMetadata(await readJsonObject(ctx)), ctx.ip);
        replayJson(ctx, metadata);
        return await next();
      }
      await next();
      if (ctx.method === 'GET' && clientId && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        (ctx.body as Metadata).registration_access_token = await rotateRegistrationAccessToken(provider, bearerToken(ctx), clientId, (t) => registrar.consumeRegistrationAccessToken(t));
      }
      if (ctx.method === 'DELETE' && clientId && ctx.status === 204) await registrar.forget(clientId, `client:${clientId}`);
    } catch (err) {
      const refused = asRegistrationError(err);
      if (!refused) throw err;
      answerOAuthError(ctx, refused.status, refused.error, refused.description);
    }
  };
}
