/**
 * `gatehouse agent login`, device side (SPEC 6.3): the OAuth 2.0 device
 * authorization grant (RFC 8628) for a device a person signs in. The agent asks
 * the issuer for a user code, shows the person where to type it (URL, code, QR
 * code of verification_uri_complete), polls the token endpoint at the
 * issuer's interval until the person has signed in and approved, and keeps the
 * tokens in a state file. A later run with the same file refreshes instead of
 * asking the person again; only a refused refresh (invalid_grant) starts a new
 * sign-in.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts,
 * openid-client and zod.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, explainFailure, refusalOf, requestOptions } from './issuer.ts';
import { refreshLogin, stateAfter } from './refresh.ts';
import { prepareStateFile, readState, sameUrl, type LoginState } from './state.ts';

/** Asked for when --scope is absent: an ID token naming the person, and a refresh token to stay signed in. */
export const defaultLoginScope = 'openid offline_access';

/** What the person needs to see (RFC 8628 section 3.2, without the device_code, which is the poller's secret). */
export interface DeviceAuthorization {
  verification_uri: string;
  user_code: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

export interface LoginInput {
  issuer: string;
  clientId: string;
  /** Space-separated scopes (default "openid offline_access"). */
  scope?: string | undefined;
  /** Where to keep the tokens; without it they are returned and not kept. */
  statePath?: string | undefined;
  /** Seconds to wait for each answer from the issuer (default 30); the polling itself lasts until the code expires. */
  timeoutSeconds?: number | undefined;
  /** Shown the code once the issuer has given one; the polling starts when it returns. */
  onAuthorization: (authorization: DeviceAuthorization) => void | Promise<void>;
  warn: (line: string) => void;
  now?: (() => Date) | undefined;
}

export interface LoginResult {
  /** How the tokens were got: a person signed in, or the saved sign-in was refreshed. */
  via: 'device_authorization' | 'refresh_token';
  state: LoginState;
}

export async function login(input: LoginInput): Promise<LoginResult> {
  const issuerUrl = checkedUrl(input.issuer, 'issuer');
  if (input.statePath) {
    const refreshed = await refreshSaved(input.statePath, issuerUrl, input);
    if (refreshed) return { via: 'refresh_token', state: refreshed };
    // Found out before anyone signs in: a file we cannot write would waste the person's sign-in.
    prepareStateFile(input.statePath).abandon();
  }
  const state = await signIn(issuerUrl, input);
  if (input.statePath) prepareStateFile(input.statePath).commit(state);
  return { via: 'device_authorization', state };
}

/**
 * The saved sign-in, refreshed; undefined when there is none or the issuer no
 * longer accepts it (a new sign-in follows). Anything else (the issuer cannot
 * be reached, the file is for another issuer) is an error: a network blip
 * must not make a person sign in again.
 */
async function refreshSaved(statePath: string, issuerUrl: URL, input: LoginInput): Promise<LoginState | undefined> {
  const existing = readState(statePath, input.warn);
  if (!existing) return undefined;
  if (existing.kind !== 'login') {
    throw new GatehouseError(
      'agent.state_invalid',
      `state file ${statePath} holds credentials from \`agent ${existing.kind === 'registration' ? 'register' : 'enroll'}\`, not a sign-in from \`agent login\``,
    );
  }
  if (!sameUrl(existing.issuer, issuerUrl.href)) {
    throw new GatehouseError('agent.state_invalid', `state file ${statePath} was written for issuer ${existing.issuer}, not ${input.issuer}`);
  }
  if (existing.client_id !== input.clientId) {
    throw new GatehouseError('agent.state_invalid', `state file ${statePath} was written for client ${existing.client_id}, not ${input.clientId}`);
  }
  if (!existing.refresh_token) {
    input.warn(`the sign-in saved in ${statePath} has no refresh token; signing in again`);
    return undefined;
  }
  try {
    return (await refreshLogin({ statePath, force: true, timeoutSeconds: input.timeoutSeconds, warn: input.warn, now: input.now })).state;
  } catch (err) {
    if (err instanceof GatehouseError && err.details?.error === 'invalid_grant') {
      input.warn(`the issuer no longer accepts the sign-in saved in ${statePath}; signing in again`);
      return undefined;
    }
    throw err;
  }
}

/** Discovery, the device authorization request, the person's part, the polling; returns the state to keep. */
async function signIn(issuerUrl: URL, input: LoginInput): Promise<LoginState> {
  const timeout = input.timeoutSeconds ?? defaultTimeoutSeconds;
  let config: client.Configuration;
  try {
    config = await client.discovery(issuerUrl, input.clientId, { token_endpoint_auth_method: 'none' }, client.None(), requestOptions(issuerUrl, timeout));
  } catch (err) {
    throw await explainFailure(err, input.issuer, 'discovery', timeout);
  }
  const server = config.serverMetadata();
  if (typeof server.device_authorization_endpoint !== 'string') {
    throw new GatehouseError(
      'agent.refused',
      `the issuer at ${input.issuer} does not offer the device authorization grant (no device_authorization_endpoint in its discovery document)`,
    );
  }
  checkedUrl(server.device_authorization_endpoint, 'device_authorization_endpoint');
  if (typeof server.token_endpoint !== 'string') {
    throw new GatehouseError('agent.refused', `the issuer at ${input.issuer} has no token_endpoint in its discovery document`);
  }
  const tokenEndpoint = checkedUrl(server.token_endpoint, 'token_endpoint').href;

  let authorization: client.DeviceAuthorizationResponse;
  try {
    authorization = await client.initiateDeviceAuthorization(config, { scope: input.scope ?? defaultLoginScope });
  } catch (err) {
    const refusal = await refusalOf(err);
    if (refusal?.error === 'invalid_client') {
      throw new GatehouseError(
        'agent.refused',
        `the issuer does not accept the client id ${input.clientId} (invalid_client): check --client-id; it must be a public client (token_endpoint_auth_method none) allowed the device code grant`,
        { status: refusal.status, error: refusal.error },
      );
    }
    throw await explainFailure(err, input.issuer, 'the device authorization request', timeout);
  }
  const { verification_uri, user_code, verification_uri_complete, expires_in, interval } = authorization;
  await input.onAuthorization({
    verification_uri,
    user_code,
    expires_in,
    ...(typeof verification_uri_complete === 'string' ? { verification_uri_complete } : {}),
    ...(typeof interval === 'number' ? { interval } : {}),
  });

  // openid-client stops at expires_in on its own, but its abort would read as a timeout: ours says the code expired.
  const expiry = new AbortController();
  const timer = setTimeout(() => expiry.abort(), (expires_in + 5) * 1000);
  let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  try {
    // Waits `interval` (5 s when the issuer names none) between polls; slow_down adds 5 s (RFC 8628 section 3.5).
    tokens = await client.pollDeviceAuthorizationGrant(config, authorization, undefined, { signal: expiry.signal });
  } catch (err) {
    throw await pollingFailure(err, expiry.signal.aborted, input.issuer, timeout);
  } finally {
    clearTimeout(timer);
  }
  const now = input.now?.() ?? new Date();
  return stateAfter(
    undefined,
    {
      version: 1,
      kind: 'login',
      issuer: server.issuer,
      client_id: input.clientId,
      token_endpoint: tokenEndpoint,
      created_at: now.toISOString(),
    },
    tokens,
    now,
  );
}

/** The end of a polling that brought no tokens, in the person's terms. */
async function pollingFailure(err: unknown, expired: boolean, issuer: string, timeout: number): Promise<GatehouseError> {
  const expiredCode = () => new GatehouseError('agent.refused', 'the code expired before anyone signed in; run the command again', { error: 'expired_token' });
  if (expired) return expiredCode();
  const refusal = await refusalOf(err);
  if (refusal?.error === 'access_denied') {
    return new GatehouseError('agent.refused', 'the sign-in was refused on the verification page (access_denied)', {
      status: refusal.status,
      error: refusal.error,
    });
  }
  if (refusal?.error === 'expired_token') return expiredCode();
  return explainFailure(err, issuer, 'the sign-in', timeout);
}
