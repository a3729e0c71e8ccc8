/**
 * `gatehouse agent token`, device side (SPEC 6.1): a client_credentials grant
 * with the device's own client id and secret (client_secret_basic) at the token
 * endpoint kept in its state file. Needs only issuer, client id, secret and
 * token endpoint, so it works for every kind of state file.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts,
 * openid-client and zod.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, explainFailure, refusalOf, requestOptions } from './issuer.ts';
import { credentialsOf, requireState } from './state.ts';

export interface TokenInput {
  statePath: string;
  /** Space-separated scopes to ask for; the client's defaults when absent. */
  scope?: string;
  /** Seconds to wait for the token endpoint's answer (default 30). */
  timeoutSeconds?: number;
  warn: (line: string) => void;
}

export interface TokenResult {
  client_id: string;
  /** The token endpoint's answer as sent (access_token, token_type, expires_in, scope…). */
  response: Record<string, unknown>;
}

export async function requestToken(input: TokenInput): Promise<TokenResult> {
  const credentials = credentialsOf(requireState(input.statePath, input.warn));
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
        `the issuer no longer accepts this device's credentials (invalid_client); it may have been revoked — register again (client ${credentials.client_id}, state file ${input.statePath})`,
        { status: refusal.status, error: refusal.error },
      );
    }
    throw await explainFailure(err, credentials.issuer, 'the token request', timeout);
  }
  // The helpers openid-client adds (expiresIn(), claims()) are functions: JSON keeps only the answer itself.
  return { client_id: credentials.client_id, response: JSON.parse(JSON.stringify(response)) as Record<string, unknown> };
}
