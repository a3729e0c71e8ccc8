/**
 * src/agent/ is the device side of Gatehouse (`gatehouse agent …`, SPEC 6.1):
 * it runs on a device that has no config.yaml and no database, so it depends on
 * nothing but `errors.ts`, `openid-client` and `zod`.
 *
 * This file: which issuer URLs the agent talks to, the openid-client options
 * for them, and what a failed request means in plain words.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';

/** Seconds before a request to the issuer is given up, unless --timeout says otherwise (openid-client's unit). */
export const defaultTimeoutSeconds = 30;

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Plain http is allowed only on the device itself (tests, a local issuer); everything else must be https. */
export function isLoopback(url: URL): boolean {
  return loopbackHosts.has(url.hostname);
}

/**
 * The issuer (or an endpoint it advertised) as a URL the agent may use: https,
 * or http on a loopback host. `what` names it in the error ("issuer", "token_endpoint").
 */
export function checkedUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatehouseError('input.invalid', `the ${what} ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url)) return url;
  throw new GatehouseError('input.invalid', `the ${what} ${value} must use https (plain http is allowed only for 127.0.0.1, localhost and ::1)`);
}

/** openid-client options for requests to `url`: the timeout, and http allowed where `checkedUrl` allowed it. */
export function requestOptions(url: URL, timeoutSeconds: number): { timeout: number; execute: ((config: client.Configuration) => void)[] } {
  return { timeout: timeoutSeconds, execute: url.protocol === 'http:' ? [client.allowInsecureRequests] : [] };
}

/** What the server said when it refused: its `error_description`, else its `error`, with the error code kept for callers. */
export interface Refusal {
  status: number;
  error: string;
  description: string | undefined;
}

/** The OAuth error in a refused response (body or WWW-Authenticate challenge), or undefined when `err` is not a refusal. */
export async function refusalOf(err: unknown): Promise<Refusal | undefined> {
  if (err instanceof client.ResponseBodyError) {
    return { status: err.status, error: err.error, description: err.error_description };
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // oidc-provider puts the error in the challenge and in the JSON body; prefer the challenge, fall back to the body.
    const params = err.cause.find((c) => c.parameters.error)?.parameters;
    let body: { error?: unknown; error_description?: unknown } = {};
    try {
      body = (await err.response.clone().json()) as typeof body;
    } catch {
      // No JSON body: the challenge alone says it.
    }
    const error = params?.error ?? (typeof body.error === 'string' ? body.error : 'unauthorized');
    const description = params?.error_description ?? (typeof body.error_description === 'string' ? body.error_description : undefined);
    return { status: err.status, error, description };
  }
  return undefined;
}

/** The network-level cause of a failed request (ECONNREFUSED, ENOTFOUND, a timeout…), or undefined when the server answered. */
export function unreachableCause(err: unknown, timeoutSeconds: number): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
    if (e.code === 'OAUTH_TIMEOUT' || e.name === 'TimeoutError') return `no answer within ${timeoutSeconds} s`;
    if (typeof e.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(e.code)) {
      const message = typeof e.message === 'string' ? e.message : '';
      return message.includes(e.code) ? message : message === '' ? e.code : `${e.code}: ${message}`;
    }
    // undici wraps every network failure as TypeError('fetch failed') with the system error as its cause.
    current = e.cause;
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    // No system error code (a port fetch refuses to use, say): the innermost message says why.
    const inner = (err.cause as { message?: unknown } | undefined)?.message;
    return typeof inner === 'string' && inner !== '' ? inner : 'fetch failed';
  }
  return undefined;
}

/**
 * Turns a failed request to the issuer into a GatehouseError with one plain
 * line: cannot reach it, it refused (with its own words), or it answered
 * something that is not OAuth. GatehouseErrors pass through unchanged.
 */
export async function explainFailure(err: unknown, issuer: string, doing: string, timeoutSeconds: number): Promise<GatehouseError> {
  if (err instanceof GatehouseError) return err;
  const cause = unreachableCause(err, timeoutSeconds);
  if (cause) return new GatehouseError('agent.unreachable', `cannot reach the issuer at ${issuer}: ${cause}`);
  const refusal = await refusalOf(err);
  if (refusal) {
    const said = refusal.description ? `${refusal.description} (${refusal.error})` : refusal.error;
    return new GatehouseError('agent.refused', `the issuer refused ${doing}: ${said}`, { status: refusal.status, error: refusal.error });
  }
  return new GatehouseError('agent.refused', `${doing} failed: ${unexpectedAnswer(err, issuer)}`);
}

/** An answer that is neither a success nor an OAuth error, in words: a wrong issuer in discovery, an HTTP status, a non-JSON body. */
function unexpectedAnswer(err: unknown, issuer: string): string {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  const cause = e.cause as { attribute?: unknown; body?: { issuer?: unknown }; status?: unknown; url?: unknown } | undefined;
  if (e.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' && cause?.attribute === 'issuer') {
    return `the discovery document at ${issuer} names the issuer ${String(cause.body?.issuer)}; use exactly that URL`;
  }
  if (cause instanceof Response) return `the issuer at ${issuer} answered HTTP ${cause.status} at ${cause.url}`;
  return `the issuer at ${issuer} answered unexpectedly (${typeof e.message === 'string' ? e.message : String(err)})`;
}
