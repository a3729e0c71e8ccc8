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
import type { Context, Middleware, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import { GatehouseError } from '../errors.ts';
import { readJsonObjectBody } from '../lib/json-body.ts';
import type { RegisteredClientRow } from '../db/repos/registration.ts';
import type { Registrar, Reservation } from '../registration/registrar.ts';
import { normalizeMetadata, type Metadata } from '../registration/rules.ts';
import { issueRegistrationAccessToken, replaceRequestBody } from './internals.ts';
import { oauthErrors, type StatusTable } from './oauth-errors.ts';

/** oidc-provider's own body limit for JSON requests. */
const bodyLimit = 56 * 1024;

export interface RegistrationGuardOptions {
  registrar: Registrar;
  provider: Provider;
  /** The registration endpoint's path inside the provider (e.g. `/reg`). */
  path: string;
  /** The HTTP status of each error code (http/middleware/errors.ts). */
  statuses: StatusTable;
}

/** Set by a translating layer in front (the Keycloak representation): how the client is recorded, and its chosen id. */
export interface RegistrationOverrides {
  via: RegisteredClientRow['via'];
  clientId?: string | undefined;
}

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

/**
 * A registration-layer error as (status, OAuth error), or undefined for errors
 * that are not ours to answer. A GatehouseError's status is the status table's,
 * its OAuth code the OAuth table's (./oauth-errors.ts).
 */
export function asRegistrationError(err: unknown, statuses: StatusTable): RegistrationRefused | undefined {
  if (err instanceof RegistrationRefused) return err;
  // oidc-provider's own refusals (from Client.validate): they carry the OAuth error already.
  const oidc = err as { error?: unknown; error_description?: unknown; status?: unknown; expose?: unknown };
  if (oidc && typeof oidc.error === 'string' && oidc.expose === true) {
    return new RegistrationRefused(typeof oidc.status === 'number' ? oidc.status : 400, oidc.error, String(oidc.error_description ?? oidc.error));
  }
  if (err instanceof GatehouseError) return new RegistrationRefused(statuses[err.code], oauthErrors[err.code], err.message);
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
  throw new RegistrationRefused(
    400,
    'invalid_request',
    body.problem === 'not_json' ? 'the request body is not valid JSON' : 'the request body must be a JSON object',
  );
}

/** Hands oidc-provider a JSON body we have read (and maybe changed), in place of the consumed request. */
export function replayJson(ctx: Context, body: Metadata): void {
  replaceRequestBody(ctx, [Buffer.from(JSON.stringify(body))], { contentType: 'application/json' });
}

/**
 * Registers with a reservation: oidc-provider validates the metadata and
 * stores the client under the reserved id, the reservation written in the
 * same transaction (Registrar.storeWork, through the adapter); a reservation
 * refused there (a used-up token, maxClients) is the answer; anything but a
 * 201 undoes what was written.
 */
export async function registerThrough(ctx: Context, next: Next, registrar: Registrar, reservation: Reservation): Promise<void> {
  replayJson(ctx, reservation.metadata);
  ctx.state.registration = reservation;
  let registered = false;
  try {
    await next();
    const refused = registrar.failureOf(reservation);
    if (refused !== undefined) throw refused;
    registered = ctx.status === 201;
  } finally {
    await registrar.settle(reservation, registered);
  }
}

/**
 * Issues a new registration access token for a client and ends the presented
 * one. Ending it is a delete whose row count decides: of parallel reads with
 * one token, only one gets a successor.
 */
export async function rotateRegistrationAccessToken(
  provider: Provider,
  presented: string | undefined,
  clientId: string,
  consume: (token: string) => Promise<boolean>,
): Promise<string> {
  const old = presented ? await provider.RegistrationAccessToken.find(presented) : undefined;
  if (!presented || !old || !(await consume(presented))) throw new RegistrationRefused(401, 'invalid_token', 'invalid token provided');
  return issueRegistrationAccessToken(provider, { clientId, ...(old?.policies ? { policies: old.policies } : {}) });
}

export function registrationGuard(options: RegistrationGuardOptions): Middleware {
  const { registrar, provider, path, statuses } = options;
  return async (ctx, next) => {
    if (ctx.path !== path && !ctx.path.startsWith(`${path}/`)) return next();
    const clientId = ctx.path.length > path.length + 1 ? decodeURIComponent(ctx.path.slice(path.length + 1)) : undefined;
    try {
      if (ctx.method === 'POST' && !clientId) {
        const metadata = normalizeMetadata(await readJsonObject(ctx));
        const overrides = ctx.state.registrationOverrides as RegistrationOverrides | undefined;
        const reservation = await registrar.reserve({
          metadata,
          token: bearerToken(ctx),
          sourceIp: ctx.ip,
          via: overrides?.via ?? 'rfc7591',
          clientId: overrides?.clientId,
        });
        return await registerThrough(ctx, next, registrar, reservation);
      }
      if (ctx.method === 'PUT' && clientId) {
        // The caller first (RFC 7592 §2.2): an unauthenticated PUT must not learn the template the client was registered under.
        if ((await provider.RegistrationAccessToken.find(bearerToken(ctx) ?? ''))?.clientId !== clientId)
          throw new RegistrationRefused(401, 'invalid_token', 'invalid token provided');
        const metadata = await registrar.checkUpdate(clientId, normalizeMetadata(await readJsonObject(ctx)), ctx.ip);
        replayJson(ctx, metadata);
        return await next();
      }
      await next();
      if (ctx.method === 'GET' && clientId && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        (ctx.body as Metadata).registration_access_token = await rotateRegistrationAccessToken(provider, bearerToken(ctx), clientId, (t) =>
          registrar.consumeRegistrationAccessToken(t),
        );
      }
      if (ctx.method === 'DELETE' && clientId && ctx.status === 204) await registrar.forget(clientId, `client:${clientId}`);
    } catch (err) {
      const refused = asRegistrationError(err, statuses);
      if (!refused) throw err;
      answerOAuthError(ctx, refused.status, refused.error, refused.description);
    }
  };
}
