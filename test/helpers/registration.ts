/**
 * Dynamic client registration over raw HTTP (RFC 7591 / 7592), for tests that
 * need exact statuses, headers and bodies (openid-client covers the happy path
 * as a relying party does it): register at `<issuer>/reg` with a bearer
 * registration token, read / update / delete at the registration client URI,
 * get a client_credentials token, and count what the database holds.
 */
import type { Gatehouse } from '../../src/context.ts';
import { tokenRequest } from './http-login.ts';
import { testClients } from './server.ts';

export interface Answer {
  status: number;
  headers: Headers;
  /** The JSON body (an empty object for 204 or a non-JSON body, whose text is in `text`). */
  body: Record<string, unknown>;
  text: string;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // Not JSON: the test looks at `text`.
  }
  return { status: response.status, headers: response.headers, body, text };
}

const bearer = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });

/** POST `<issuer>/reg` with a JSON body (or any raw body with its own content type). */
export async function register(issuer: string, metadata: unknown, token?: string, raw?: { body: string; contentType?: string | undefined }): Promise<Answer> {
  const headers: Record<string, string> = { ...bearer(token) };
  if (raw) {
    if (raw.contentType) headers['content-type'] = raw.contentType;
  } else {
    headers['content-type'] = 'application/json';
  }
  return answer(await fetch(`${issuer}/reg`, { method: 'POST', headers, body: raw ? raw.body : JSON.stringify(metadata) }));
}

/** RFC 7592 client configuration endpoint: GET, PUT (JSON body) or DELETE with a registration access token. */
export async function manage(uri: string, method: 'GET' | 'PUT' | 'DELETE', rat: string, body?: Record<string, unknown>): Promise<Answer> {
  const headers: Record<string, string> = { ...bearer(rat) };
  if (body) headers['content-type'] = 'application/json';
  return answer(await fetch(uri, { method, headers, body: body ? JSON.stringify(body) : null }));
}

/**
 * The metadata a client sends back in an RFC 7592 PUT: what GET returned, minus
 * the fields the server issues (RFC 7592 §2.2 says they must not be sent as
 * metadata to change; client_id and client_secret are sent to match).
 */
export function updateBody(current: Record<string, unknown>, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const { registration_access_token: _rat, registration_client_uri: _uri, client_id_issued_at: _issued, client_secret_expires_at: _expires, ...rest } = current;
  return { ...rest, ...changes };
}

/** The usual metadata of a client that only gets tokens for itself (a device or service). */
export const serviceMetadata = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  ...extra,
});

/** A web client with one redirect URI. */
export const webMetadata = (redirectUri: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  redirect_uris: [redirectUri],
  ...extra,
});

/** A client_credentials token request with HTTP Basic client authentication. */
export function clientCredentials(issuer: string, clientId: string, secret: string) {
  return tokenRequest(issuer, { client_id: clientId, client_secret: secret }, { grant_type: 'client_credentials' });
}

/** Registered client answer fields the tests use. */
export interface Registered {
  client_id: string;
  client_secret: string;
  registration_access_token: string;
  registration_client_uri: string;
  [key: string]: unknown;
}

export function registered(a: Answer): Registered {
  if (a.status !== 201) throw new Error(`expected 201 from the registration endpoint, got ${a.status}: ${a.text}`);
  return a.body as Registered;
}

export async function count(gh: Pick<Gatehouse, 'db'>, table: string, where: Record<string, unknown> = {}): Promise<number> {
  return Number((await gh.db(table).where(where).count<{ n: number | string }[]>({ n: '*' }).first())?.n ?? 0);
}

/** Client metadata rows (oidc_model kind Client) for one id: 1 while the client exists. */
export const clientRows = (gh: Pick<Gatehouse, 'db'>, clientId: string) => count(gh, 'oidc_model', { kind: 'Client', id: clientId });

/** Gatehouse's own record of a registered client: 1 while it exists. */
export const recordRows = (gh: Pick<Gatehouse, 'db'>, clientId: string) => count(gh, 'registered_client', { client_id: clientId });

/** The current `uses` of a registration token. */
export async function usesOf(gh: Pick<Gatehouse, 'registrationTokens'>, id: string): Promise<number> {
  return (await gh.registrationTokens.get(id)).uses;
}

/** Server config for registration tests (`raw` is what config.yaml would hold). */
export function registrationConfig(registration: Record<string, unknown>, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return { registration: { enabled: true, ...registration }, ...rest };
}

/** Registration with a required token on both issuers: Gatehouse's own and the Keycloak realm `realm`. */
export function realmRegistrationConfig(realm: string, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return registrationConfig({ initialAccessToken: 'required' }, { clients: [testClients.service], compat: { keycloak: { realm } }, ...rest });
}
