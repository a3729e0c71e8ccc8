/**
 * One table per way out: every Gatehouse error code leaves the registration
 * endpoints (RFC 7591 / 7592, and the Keycloak representation in front of them)
 * with the status table's status and the OAuth table's `error`, never as an
 * unmapped error that falls through to another answer.
 */
import { describe, expect, it } from 'vitest';
import { GatehouseError, gatehouseErrorCodes } from '../../src/errors.ts';
import { httpStatus } from '../../src/http/middleware/errors.ts';
import { oauthErrors } from '../../src/oidc/oauth-errors.ts';
import { asRegistrationError } from '../../src/oidc/registration.ts';

describe('error tables', () => {
  it('answers every Gatehouse error at the registration endpoint with its HTTP status and an OAuth error code', () => {
    for (const code of gatehouseErrorCodes) {
      const refused = asRegistrationError(new GatehouseError(code, `refused: ${code}`), httpStatus);
      expect(refused, code).toMatchObject({ status: httpStatus[code], error: oauthErrors[code], description: `refused: ${code}` });
    }
  });

  it("answers a database outage as RFC 6749 temporarily_unavailable with 503, as oidc-provider's own endpoints do", () => {
    expect(asRegistrationError(new GatehouseError('database.unavailable', 'down'), httpStatus)).toMatchObject({
      status: 503,
      error: 'temporarily_unavailable',
    });
    expect(asRegistrationError(new GatehouseError('overloaded', 'undone'), httpStatus)).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
  });
});
