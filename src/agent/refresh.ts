/**
 * Keeping a signed-in device signed in (SPEC 6.3): the refresh token grant
 * with the tokens in a `kind: "login"` state file. Refresh tokens rotate on
 * every use on this server, and re-using a spent one revokes the sign-in, so a
 * refresh happens under the state file's lock, re-reads the file first, and
 * rewrites it (atomically) before the lock is let go.
 *
 * Part of src/agent/ (the device side): depends only on errors.ts,
 * openid-client and zod.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../errors.ts';
import { checkedUrl, defaultTimeoutSeconds, explainFailure, refusalOf, requestOptions } from './issuer.ts';
import { withStateLock } from './lock.ts';
import { prepareStateFile, requireState, type LoginState } from './state.ts';

/** An access token closer than this to its expiry is refreshed rather than handed out. */
export const refreshMarginSeconds = 60;

/** Seconds the access token in `state` still works (0 when it has expired). */
export function secondsLeft(state: LoginState, now: Date): number {
  return Math.max(0, Math.floor((Date.parse(state.expires_at) - now.getTime()) / 1000));
}

/** An openid-client configuration for a public client from what the state file kept: no discovery, one request. */
export function loginClient(state: Pick<LoginState, 'issuer' | 'client_id' | 'token_endpoint'>, timeoutSeconds: number): client.Configuration {
  const tokenEndpoint = checkedUrl(state.token_endpoint, 'token_endpoint');
  const config = new client.Configuration(
    { issuer: state.issuer, token_endpoint: tokenEndpoint.href },
    state.client_id,
    { token_endpoint_auth_method: 'none' },
    client.None(),
  );
  const { timeout, execute } = requestOptions(tokenEndpoint, timeoutSeconds);
  config.timeout = timeout;
  for (const extension of execute) extension(config);
  return config;
}

/** The state to keep after a token response: the refresh token rotated, the rest updated where the issuer said. */
export function stateAfter(
  previous: LoginState | undefined,
  base: Omit<LoginState, 'access_token' | 'refresh_token' | 'expires_at' | 'scope' | 'subject'>,
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  now: Date,
): LoginState {
  const refreshToken = tokens.refresh_token ?? previous?.refresh_token;
  const scope = tokens.scope ?? previous?.scope;
  const subject = tokens.claims()?.sub ?? previous?.subject;
  return {
    ...base,
    access_token: tokens.access_token,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    // No expires_in: the token's life is unknown, so it counts as spent and the next `agent token` refreshes.
    expires_at: new Date(now.getTime() + (tokens.expires_in ?? 0) * 1000).toISOString(),
    ...(scope !== undefined ? { scope } : {}),
    ...(subject !== undefined ? { subject } : {}),
  };
}

export interface RefreshInput {
  statePath: string;
  /** Refresh even when the access token is still fresh (`agent login` run again does, to prove the sign-in is alive). */
  force: boolean;
  /** Ask for fewer scopes than were granted: the narrower access token is returned, not kept (the kept one is left as it was). */
  scope?: string | undefined;
  timeoutSeconds?: number | undefined;
  warn: (line: string) => void;
  now?: (() => Date) | undefined;
}

export interface RefreshResult {
  state: LoginState;
  /** The access token to hand out (the kept one, or a narrower one asked for with `scope`). */
  access_token: string;
  expires_in: number;
  scope: string | undefined;
  refreshed: boolean;
}

/**
 * Refreshes the tokens in a login state file when needed (or always, with
 * `force`). An issuer that no longer accepts the refresh token gives an
 * `agent.refused` error with `details.error === 'invalid_grant'`.
 */
export async function refreshLogin(input: RefreshInput): Promise<RefreshResult> {
  const timeout = input.timeoutSeconds ?? defaultTimeoutSeconds;
  const now = () => input.now?.() ?? new Date();
  // Waits for another agent that is refreshing this file: at most one request's time, plus a little.
  return withStateLock(input.statePath, timeout + 5, async () => {
    // Read inside the lock: another agent may have just refreshed (and spent the token we read before).
    const state = requireState(input.statePath, input.warn);
    if (state.kind !== 'login') {
      throw new GatehouseError('agent.state_invalid', `state file ${input.statePath} holds client credentials, not a sign-in from \`agent login\``);
    }
    const left = secondsLeft(state, now());
    if (!input.force && input.scope === undefined && left > refreshMarginSeconds) {
      return { state, access_token: state.access_token, expires_in: left, scope: state.scope, refreshed: false };
    }
    if (!state.refresh_token) {
      throw new GatehouseError(
        'agent.refused',
        `the access token in ${input.statePath} ${left > 0 ? 'is about to expire' : 'has expired'} and the issuer gave no refresh token; sign in again with \`gatehouse agent login --issuer ${state.issuer} --client-id ${state.client_id} --state ${input.statePath}\``,
      );
    }

    // Before the request: a refresh token spent without being able to keep its successor would end the sign-in.
    const pending = prepareStateFile(input.statePath);
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await client.refreshTokenGrant(loginClient(state, timeout), state.refresh_token, input.scope ? { scope: input.scope } : undefined);
    } catch (err) {
      pending.abandon();
      const refusal = await refusalOf(err);
      if (refusal?.error === 'invalid_grant') {
        throw new GatehouseError(
          'agent.refused',
          `the issuer no longer accepts the sign-in saved in ${input.statePath} (${refusal.description ?? 'invalid_grant'}); sign in again with \`gatehouse agent login --issuer ${state.issuer} --client-id ${state.client_id} --state ${input.statePath}\``,
          { status: refusal.status, error: refusal.error },
        );
      }
      throw await explainFailure(err, state.issuer, 'the refresh', timeout);
    }

    const at = now();
    const { access_token: _a, refresh_token: _r, expires_at: _e, scope: _s, subject: _u, ...base } = state;
    const refreshed = stateAfter(state, { ...base, refreshed_at: at.toISOString() }, tokens, at);
    // A narrower token was asked for: hand it out, keep the full one (only the rotated refresh token is new).
    const kept: LoginState =
      input.scope === undefined
        ? refreshed
        : { ...state, refreshed_at: refreshed.refreshed_at, ...(refreshed.refresh_token ? { refresh_token: refreshed.refresh_token } : {}) };
    pending.commit(kept);
    return { state: kept, access_token: tokens.access_token, expires_in: tokens.expires_in ?? 0, scope: tokens.scope, refreshed: true };
  });
}
