/**
 * `gatehouse agent enroll`, device side (SPEC 6.2, Losant-style): identical
 * firmware carries one signed registration JWT; each device presents it with
 * its own manufacturer id at `POST <issuer>/api/register-device` and gets its
 * own client id and secret, which it keeps in a state file. The server answers
 * a manufacturer id once (a second try is a 409 with no credentials), so the
 * state file is the only copy: every later start re-uses it without a request.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts and zod
 * (plain fetch: this endpoint is not OAuth, openid-client has nothing for it).
 */
import { z } from 'zod';
import { GatehouseError, type GatehouseErrorCode } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, isLoopback, unreachableCause } from './issuer.ts';
import { prepareStateFile, readState, sameUrl, type EnrollmentState } from './state.ts';

/** The path the server answers enrollments on, below its issuer. */
export const registerDevicePath = '/api/register-device';

export interface EnrollInput {
  /** The registration URL, or the issuer (the path is then added); default: the JWT's `registration_url` claim. */
  url?: string | undefined;
  /** The signed registration JWT (gatehouse device-token create). */
  token: string;
  manufacturerId: string;
  statePath: string;
  /** Seconds to wait for the server's answer (default 30). */
  timeoutSeconds?: number | undefined;
  /** Hears warnings (a state file readable by others). */
  warn: (line: string) => void;
  now?: () => Date;
}

export interface EnrollResult {
  /** True when an existing state file was used and nothing was sent. */
  reused: boolean;
  state: EnrollmentState;
}

/** The 201 answer (SPEC 6.2); accessKey/accessSecret repeat clientId/clientSecret for Losant-style firmware. */
const enrolledSchema = z.object({
  deviceId: z.string().min(1),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  tokenEndpoint: z.url({ protocol: /^https?$/ }),
});

/** Any refusal: `{ "error": "<code>", "error_description": "..." }`. */
const refusalSchema = z.object({ error: z.string().min(1), error_description: z.string().optional() });

/** The claim `gatehouse device-token create` puts in the JWT; read without checking the signature (only the server can). */
const tokenPayloadSchema = z.object({ registration_url: z.string().min(1) });

function registrationUrlInToken(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (token.split('.').length !== 3 || !payload) return undefined;
  try {
    const parsed = tokenPayloadSchema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data.registration_url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where to enroll: --url as given when it already ends in /api/register-device,
 * --url plus that path when it is the issuer, else the JWT's registration_url.
 */
export function registrationUrlOf(url: string | undefined, token: string): URL {
  if (url === undefined) {
    const claimed = registrationUrlInToken(token);
    if (!claimed)
      throw new GatehouseError(
        'input.invalid',
        '--url is missing and the token carries no registration_url to enroll at; give --url (the issuer, or its /api/register-device URL)',
      );
    return checkedUrl(claimed, 'registration_url in the token');
  }
  const checked = checkedUrl(url, 'URL');
  if (checked.pathname.endsWith(registerDevicePath)) return checked;
  const issuer = new URL(checked.href);
  issuer.pathname = `${issuer.pathname.replace(/\/+$/, '')}${registerDevicePath}`;
  issuer.search = '';
  issuer.hash = '';
  return issuer;
}

/** The issuer: the token endpoint without `/token`, else the registration URL without its path. */
function issuerOf(tokenEndpoint: string, registrationUrl: URL): string {
  if (tokenEndpoint.endsWith('/token')) return tokenEndpoint.slice(0, -'/token'.length);
  return registrationUrl.href.slice(0, -registerDevicePath.length);
}

export async function enroll(input: EnrollInput): Promise<EnrollResult> {
  const registrationUrl = registrationUrlOf(input.url, input.token);
  const existing = readState(input.statePath, input.warn);
  if (existing) {
    if (existing.kind !== 'enrollment') {
      throw new GatehouseError(
        'agent.state_invalid',
        `state file ${input.statePath} holds credentials from \`agent ${existing.kind === 'registration' ? 'register' : existing.kind}\`, not from an enrollment`,
      );
    }
    if (existing.manufacturer_id !== input.manufacturerId) {
      throw new GatehouseError(
        'agent.state_invalid',
        `state file ${input.statePath} was written for manufacturer id ${existing.manufacturer_id}, not ${input.manufacturerId}`,
      );
    }
    if (!sameUrl(existing.registration_url, registrationUrl.href)) {
      throw new GatehouseError(
        'agent.state_invalid',
        `state file ${input.statePath} was written for ${existing.registration_url}, not ${registrationUrl.href}`,
      );
    }
    return { reused: true, state: existing };
  }

  // Found out before the request: a folder we cannot write to must not cost the device its one enrollment.
  const pending = prepareStateFile(input.statePath);
  let state: EnrollmentState;
  try {
    state = await enrollAt(registrationUrl, input);
  } catch (err) {
    pending.abandon();
    throw err;
  }
  pending.commit(state);
  if (!checkedTokenEndpoint(state.token_endpoint)) {
    input.warn(
      `warning: the server's token endpoint ${state.token_endpoint} is plain http on another machine; \`agent token\` will refuse it (credentials saved in ${input.statePath} all the same)`,
    );
  }
  return { reused: false, state };
}

function checkedTokenEndpoint(value: string): boolean {
  const url = new URL(value);
  return url.protocol === 'https:' || isLoopback(url);
}

/** The request and the answer, in plain words. */
async function enrollAt(url: URL, input: EnrollInput): Promise<EnrollmentState> {
  const timeout = input.timeoutSeconds ?? defaultTimeoutSeconds;
  let status: number;
  let text: string;
  let location: string | null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ token: input.token, manufacturerId: input.manufacturerId }),
      // A redirected POST turns into a GET elsewhere (and could leave https): say so instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeout * 1000),
    });
    status = response.status;
    location = response.headers.get('location');
    text = await response.text();
  } catch (err) {
    const cause = unreachableCause(err, timeout);
    if (cause) throw new GatehouseError('agent.unreachable', `cannot reach the issuer at ${url.href}: ${cause}`);
    throw err;
  }

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }

  if (status === 201) {
    const enrolled = enrolledSchema.safeParse(body);
    if (!enrolled.success) {
      const id = (body as { clientId?: unknown } | undefined)?.clientId;
      // It may have enrolled us (and the manufacturer id is then taken): say so, so an admin can revoke it.
      throw new GatehouseError(
        'agent.refused',
        `the issuer answered the enrollment at ${url.href} with credentials this agent cannot read${typeof id === 'string' ? ` (device ${id})` : ''}; nothing was saved, and this manufacturer id may now count as enrolled: ask an admin`,
      );
    }
    const { deviceId, clientId, clientSecret, tokenEndpoint } = enrolled.data;
    return {
      version: 1,
      kind: 'enrollment',
      issuer: issuerOf(tokenEndpoint, url),
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint: tokenEndpoint,
      registration_url: url.href,
      manufacturer_id: input.manufacturerId,
      device_id: deviceId,
      created_at: (input.now?.() ?? new Date()).toISOString(),
    };
  }
  throw refusalError(status, body, url, location, input.manufacturerId);
}

/** The error codes (and with them the exit codes) the server's statuses mean on the device. */
const refusalCodes: Record<number, GatehouseErrorCode> = {
  400: 'input.invalid',
  401: 'device.invalid_token',
  403: 'device.not_allowed',
  409: 'device.duplicate',
  429: 'rate_limited',
};

/** What the device can do about a refusal, after the server's own words. */
const refusalHints: Record<number, (manufacturerId: string) => string> = {
  401: () => 'ask for a new device token',
  409: (id) => `no new credentials were issued; use the state file from the first enrollment of ${id}`,
  429: () => 'wait a few minutes and run the command again',
};

function refusalError(status: number, body: unknown, url: URL, location: string | null, manufacturerId: string): GatehouseError {
  const refusal = refusalSchema.safeParse(body);
  const code = refusalCodes[status];
  if (refusal.success && code) {
    const { error, error_description: description } = refusal.data;
    const hint = refusalHints[status]?.(manufacturerId);
    return new GatehouseError(code, `the issuer refused the enrollment: ${description ?? error} (${error})${hint ? `; ${hint}` : ''}`, { status, error });
  }
  if (status >= 300 && status < 400) {
    return new GatehouseError(
      'agent.refused',
      `the enrollment failed: ${url.href} answered with a redirect (HTTP ${status}) to ${location ?? 'nowhere'}; give the URL it redirects to`,
    );
  }
  if (status === 404 || status === 405) {
    return new GatehouseError(
      'agent.refused',
      `the enrollment failed: ${url.href} answered HTTP ${status}; there is no device enrollment there (check --url, and that deviceRegistration is enabled on the server)`,
    );
  }
  const said = refusal.success ? `: ${refusal.data.error_description ?? refusal.data.error} (${refusal.data.error})` : '';
  return new GatehouseError('agent.refused', `the enrollment failed: ${url.href} answered HTTP ${status}${said}`, { status });
}
