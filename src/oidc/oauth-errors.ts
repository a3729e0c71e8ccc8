/**
 * The OAuth `error` code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2) each
 * Gatehouse error leaves with where it leaves through an OAuth endpoint: the
 * registration endpoints (./registration.ts, the Keycloak representation) and
 * oidc-provider's own endpoints (./unavailable.ts). The HTTP status is not
 * here: it comes from the status table (http/middleware/errors.ts), handed in.
 * A code without an OAuth code does not compile.
 */
import type { GatehouseErrorCode } from '../errors.ts';

export type OAuthErrorCode =
  'invalid_request' | 'invalid_token' | 'invalid_client_metadata' | 'invalid_redirect_uri' | 'access_denied' | 'server_error' | 'temporarily_unavailable';

/** A status per code, as http/middleware/errors.ts has it. */
export type StatusTable = Readonly<Record<GatehouseErrorCode, number>>;

export const oauthErrors = {
  'config.invalid': 'server_error',
  'input.invalid': 'invalid_request',
  not_found: 'invalid_request',
  // A registration whose chosen client id is taken: the metadata is what is wrong.
  already_exists: 'invalid_client_metadata',
  'auth.invalid_credentials': 'access_denied',
  'auth.email_not_verified': 'access_denied',
  'auth.user_disabled': 'access_denied',
  // RFC 6749's code for "try again later", as oidc-provider's own endpoints answer an outage (./unavailable.ts).
  'auth.throttled': 'temporarily_unavailable',
  'auth.unauthenticated': 'invalid_token',
  'auth.upstream_failed': 'temporarily_unavailable',
  'signup.disabled': 'access_denied',
  'verification.invalid': 'invalid_request',
  'csrf.invalid': 'invalid_request',
  rate_limited: 'temporarily_unavailable',
  overloaded: 'temporarily_unavailable',
  'database.unavailable': 'temporarily_unavailable',
  forbidden: 'access_denied',
  'acl_token.not_found': 'access_denied',
  'acl_token.expired': 'access_denied',
  'acl_token.revoked': 'access_denied',
  'acl_token.exhausted': 'access_denied',
  'acl_token.wrong_client': 'access_denied',
  'access.token_required': 'access_denied',
  'join_request.already_decided': 'invalid_request',
  'approval_link.invalid': 'invalid_request',
  'registration.invalid_token': 'invalid_token',
  'registration.invalid_client_metadata': 'invalid_client_metadata',
  'registration.invalid_redirect_uri': 'invalid_redirect_uri',
  'device.invalid_token': 'invalid_token',
  'device.duplicate': 'invalid_request',
  'device.not_allowed': 'access_denied',
  'signing_key.last_active': 'invalid_request',
  'agent.unreachable': 'temporarily_unavailable',
  'agent.refused': 'access_denied',
  'agent.state_invalid': 'invalid_request',
} satisfies Record<GatehouseErrorCode, OAuthErrorCode>;
