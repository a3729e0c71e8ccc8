/** Exit codes by error code (sysexits.h values); the compiler checks every code has one. */
import type { GatehouseErrorCode } from '../errors.ts';

export const usageError = 64;
export const unexpectedError = 70;

export const exitCodes = {
  'config.invalid': 78,
  'input.invalid': usageError,
  not_found: 66,
  already_exists: 73,
  'auth.invalid_credentials': 77,
  'auth.email_not_verified': 77,
  'auth.user_disabled': 77,
  'auth.throttled': 75,
  'auth.upstream_failed': 69,
  'signup.disabled': 77,
  'verification.invalid': 65,
  'csrf.invalid': 77,
  rate_limited: 75,
  overloaded: 75,
  'database.unavailable': 69,
  forbidden: 77,
  'acl_token.not_found': 66,
  'acl_token.expired': 65,
  'acl_token.revoked': 65,
  'acl_token.exhausted': 65,
  'acl_token.wrong_client': 65,
  'access.token_required': 77,
  'join_request.already_decided': 65,
  'approval_link.invalid': 65,
  'registration.invalid_token': 65,
  'registration.invalid_client_metadata': 65,
  'registration.invalid_redirect_uri': 65,
  'device.invalid_token': 77,
  'device.duplicate': 73,
  'device.not_allowed': 77,
  'signing_key.last_active': 65,
  'agent.unreachable': 69,
  'agent.refused': 77,
  'agent.state_invalid': 65,
} satisfies Record<GatehouseErrorCode, number>;
