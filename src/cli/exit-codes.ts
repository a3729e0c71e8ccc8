/**
 * Exit codes (sysexits.h values): one meaning per number, listed here and in the
 * README ("The `gatehouse` command"); every error code maps to one of them, and
 * the compiler checks that each has one.
 */
import type { GatehouseErrorCode } from '../errors.ts';

export const exitCodeMeanings = {
  64: 'bad usage or input (flags, arguments, values)',
  65: "the agent's state file is damaged, unreadable, or written for another issuer, device or command",
  66: 'not found (no such user, token, client, device or state file)',
  69: 'a service it needs is unreachable (the database, the issuer, an upstream provider)',
  70: 'unexpected error (GATEHOUSE_DEBUG=1 prints the details)',
  73: 'conflict with what is there: it already exists, is already enrolled or already decided',
  75: 'temporary: rate limited, throttled or overloaded; try again later',
  77: 'refused: not allowed, or a token, link or credential that is wrong, expired, revoked or used up',
  78: 'the config is invalid (each problem named with its key and line)',
} as const;

export type ExitCode = keyof typeof exitCodeMeanings;

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
  'auth.unauthenticated': 77,
  'auth.upstream_failed': 69,
  'signup.disabled': 77,
  'verification.invalid': 77,
  'csrf.invalid': 77,
  rate_limited: 75,
  overloaded: 75,
  'database.unavailable': 69,
  forbidden: 77,
  'acl_token.not_found': 66,
  'acl_token.expired': 77,
  'acl_token.revoked': 77,
  'acl_token.exhausted': 77,
  'acl_token.wrong_client': 77,
  'access.token_required': 77,
  'join_request.already_decided': 73,
  'approval_link.invalid': 77,
  'registration.invalid_token': 77,
  'registration.invalid_client_metadata': 64,
  'registration.invalid_redirect_uri': 64,
  'device.invalid_token': 77,
  'device.duplicate': 73,
  'device.not_allowed': 77,
  'signing_key.last_active': 73,
  'agent.unreachable': 69,
  'agent.refused': 77,
  'agent.state_invalid': 65,
} satisfies Record<GatehouseErrorCode, ExitCode>;
