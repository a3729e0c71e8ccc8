/**
 * `gatehouse agent register`, device side (SPEC 6.1): a device registers itself
 * as its own client_credentials client through RFC 7591 dynamic registration,
 * presenting a counted registration token as the initial access token, and
 * keeps what it got in a state file. Every later start finds that file and
 * re-uses it without a request, so restarting a device never spends a use.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts,
 * openid-client and zod.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, explainFailure, requestOptions } from './issuer.ts';
import { prepareStateFile, readState, sameUrl, type RegistrationState } from './state.ts';

export interface RegisterInput {
  issuer: string;
  registrationToken: string;
  statePath: string;
  /** client_name; default: see defaultClientName. */
  name?: string | undefined;
  /** Seconds to wait for each answer from the issuer (default 30). */
  timeoutSeconds?: number | undefined;
  /** Hears warnings (a state file readable by others). */
  warn: (line: string) => void;
  now?: (() => Date) | undefined;
}

export interface RegisterResult {
  /** True when an existing state file was used and nothing was registered. */
  reused: boolean;
  state: RegistrationState;
}

export async function register(input: RegisterInput): Promise<RegisterResult> {
  const issuerUrl = checkedUrl(input.issuer, 'issuer');
  const existing = readState(input.statePath, input.warn);
  if (existing) {
    if (!sameUrl(existing.issuer, issuerUrl.href)) {
      throw new GatehouseError('agent.state_invalid', `state file ${input.statePath} was written for issuer ${existing.issuer}, not ${input.issuer}`);
    }
    if (existing.kind !== 'registration') {
      throw new GatehouseError(
        'agent.state_invalid',
        `state file ${input.statePath} holds credentials from \`agent ${existing.kind as string}\`, not from a registration`,
      );
    }
    return { reused: true, state: existing };
  }

  // Found out before the request: a folder we cannot write to must not cost a registration token use.
  const pending = prepareStateFile(input.statePath);
  let state: RegistrationState;
  try {
    state = await registerAt(issuerUrl, input);
  } catch (err) {
    pending.abandon();
    throw err;
  }
  pending.commit(state);
  return { reused: false, state };
}

/**
 * A name that tells devices apart in `device list` even when a fleet shares one
 * image (the same hostname and state path everywhere): a short random part,
 * the host and the state file's name, e.g. "gatehouse-agent 3f9a1c on pi (state.json)".
 */
export function defaultClientName(statePath: string): string {
  return `gatehouse-agent ${randomBytes(3).toString('hex')} on ${hostname()} (${path.basename(statePath)})`;
}

/** Discovery, then the registration request; returns the state to keep. */
async function registerAt(issuerUrl: URL, input: RegisterInput): Promise<RegistrationState> {
  const timeout = input.timeoutSeconds ?? defaultTimeoutSeconds;
  const options = requestOptions(issuerUrl, timeout);
  // Discovery first, on its own: an issuer without registration gets a clear sentence, not a library error.
  let server: client.ServerMetadata;
  try {
    server = (await client.discovery(issuerUrl, 'gatehouse-agent', undefined, client.None(), options)).serverMetadata();
  } catch (err) {
    throw await explainFailure(err, input.issuer, 'discovery', timeout);
  }
  if (typeof server.registration_endpoint !== 'string') {
    throw new GatehouseError(
      'agent.refused',
      `the issuer at ${input.issuer} does not offer dynamic client registration (no registration_endpoint in its discovery document)`,
    );
  }
  checkedUrl(server.registration_endpoint, 'registration_endpoint');
  if (typeof server.token_endpoint !== 'string') {
    throw new GatehouseError('agent.refused', `the issuer at ${input.issuer} has no token_endpoint in its discovery document`);
  }
  checkedUrl(server.token_endpoint, 'token_endpoint');

  const metadata: Partial<client.ClientMetadata> = {
    client_name: input.name ?? defaultClientName(input.statePath),
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  let registered: client.ClientMetadata;
  try {
    const config = await client.dynamicClientRegistration(issuerUrl, metadata, undefined, { ...options, initialAccessToken: input.registrationToken });
    registered = config.clientMetadata();
  } catch (err) {
    throw await explainFailure(err, input.issuer, 'the registration', timeout);
  }

  const { client_id, client_secret, registration_access_token, registration_client_uri } = registered;
  const missing = [
    ['client_secret', client_secret],
    ['registration_access_token', registration_access_token],
    ['registration_client_uri', registration_client_uri],
  ]
    .filter(([, v]) => typeof v !== 'string' || v === '')
    .map(([k]) => k);
  if (missing.length > 0) {
    // The client exists now but is unusable to us: say which, so an admin can remove it.
    throw new GatehouseError(
      'agent.refused',
      `the issuer registered client ${client_id} but its answer lacks ${missing.join(', ')}; nothing was saved (an admin can remove that client)`,
    );
  }
  return {
    version: 1,
    kind: 'registration',
    issuer: server.issuer,
    client_id,
    client_secret: client_secret as string,
    registration_access_token: registration_access_token as string,
    registration_client_uri: registration_client_uri as string,
    token_endpoint: server.token_endpoint,
    created_at: (input.now?.() ?? new Date()).toISOString(),
  };
}
