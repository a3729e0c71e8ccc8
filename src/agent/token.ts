/**
 * `gatehouse agent token`, device side (SPEC 6): an access token from the
 * state file, whatever wrote it. A device with its own client (`agent
 * register`, `agent enroll`) gets one by a client_credentials grant with its
 * client id and secret (client_secret_basic) at the kept token endpoint. A
 * device a person signed in (`agent login`) hands out the kept access token,
 * refreshing it first when it has expired or is about to.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts,
 * openid-client and zod.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, explainFailure, refusalOf, requestOptions } from './issuer.ts';
import { refreshLogin } from './refresh.ts';
import { credentialsOf, requireState, type ClientState } from './state.ts';

export interface TokenInput {
  statePath: string;
  /** Space-separated scopes to ask for; the client's defaults when absent. */
  scope?: string | undefined;
  /** Seconds to wait for the token endpoint's answer (default 30). */
  timeoutSeconds?: number | undefined;
  warn: (line: string) => void;
  now?: (() => Date) | undefined;
}

export interface TokenResult {
  client_id: string;
  /** The token endpoint's answer as sent (access_token, token_type, expires_in, scope…). */
  response: Record<string, unknown>;
}

export async function requestToken(input: TokenInput): Promise<TokenResult> {
  const state = requireState(input.statePath, input.warn);
  if (state.kind === 'login') {
    const { access_token, expires_in, scope } = await refreshLogin({
      statePath: input.statePath,
      force: false,
      scope: input.scope,
      timeoutSeconds: input.timeoutSeconds,
      warn: input.warn,
      now: input.now,
    });
    // Never the refresh token: it is the sign-in itself, and it rotates.
    return { client_id: state.client_id, response: { access_token, token_type: 'Bearer', expires_in, ...(scope !== undefined ? { scope } : {}) } };
  }
  return clientCredentials(state, input);
}

async function clientCredentials(state: ClientState, input: TokenInput): Promise<TokenResult> {
  const credentials = credentialsOf(state);
  const tokenEndpoint = checkedUrl(credentials.token_endpoint, 'token_endpoint');
  // No discovery: the token endpoint was kept at registration, so a token needs one request.
  const config = new client.Configuration(
    { issuer: credentials.issuer, token_endpoint: tokenEndpoint.href },
    credentials.client_id,
    credentials.client_secret,
    client.ClientSecretBasic(credentials.client_secret),
  );
  const { timeout, execute } = requestOptions(tokenEndpoint, input.timeoutSeconds ?? defaultTimeoutSeconds);
  config.timeout = timeout;
  for (const extension of execute) extension(config);

  let response: client.TokenEndpointResponse;
  try {
    response = await client.clientCredentialsGrant(config, input.scope ? { scope: input.scope } : {});
  } catch (err) {
    const refusal = await refusalOf(err);
    if (refusal?.error === 'invalid_client') {
      throw new GatehouseError(
        'agent.refused',
        state.kind === 'enrollment'
          ? // A revoked device's manufacturer id cannot enroll again (the server refuses it): only an admin can help.
            `the issuer no longer accepts this device's credentials (invalid_client); it may have been revoked, and a revoked device cannot enroll again: ask an admin (client ${credentials.client_id}, state file ${input.statePath})`
          : `the issuer no longer accepts this device's credentials (invalid_client); it may have been revoked — register again (client ${credentials.client_id}, state file ${input.statePath})`,
        { status: refusal.status, error: refusal.error },
      );
    }
    throw await explainFailure(err, credentials.issuer, 'the token request', timeout);
  }
  // The helpers openid-client adds (expiresIn(), claims()) are functions: JSON keeps only the answer itself.
  return { client_id: credentials.client_id, response: JSON.parse(JSON.stringify(response)) as Record<string, unknown> };
}
