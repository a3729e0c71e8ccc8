/**
 * Errors as values with stable codes. This module knows nothing of HTTP, OAuth
 * or exit codes: one table per way out maps every code, each checked by the
 * compiler (`satisfies Record<GatehouseErrorCode, …>`): the HTTP status in
 * `http/middleware/errors.ts`, the OAuth `error` in `oidc/oauth-errors.ts`, the
 * exit code in `cli/exit-codes.ts`.
 */

export const gatehouseErrorCodes = [
  'config.invalid',
  'input.invalid',
  'not_found',
  'already_exists',
  'auth.invalid_credentials',
  'auth.email_not_verified',
  'auth.user_disabled',
  'auth.throttled',
  'auth.unauthenticated',
  'auth.upstream_failed',
  'signup.disabled',
  'verification.invalid',
  'csrf.invalid',
  'rate_limited',
  'overloaded',
  'database.unavailable',
  'forbidden',
  'acl_token.not_found',
  'acl_token.expired',
  'acl_token.revoked',
  'acl_token.exhausted',
  'acl_token.wrong_client',
  'access.token_required',
  'join_request.already_decided',
  'approval_link.invalid',
  'registration.invalid_token',
  'registration.invalid_client_metadata',
  'registration.invalid_redirect_uri',
  'device.invalid_token',
  'device.duplicate',
  'device.not_allowed',
  'signing_key.last_active',
  'agent.unreachable',
  'agent.refused',
  'agent.state_invalid',
] as const;

export type GatehouseErrorCode = (typeof gatehouseErrorCodes)[number];

export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  constructor(
    readonly code: GatehouseErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    // The lower-level error this one stands for (a driver's), for logs; never shown.
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function isGatehouseError(err: unknown, code?: GatehouseErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}
