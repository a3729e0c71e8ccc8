/**
 * What a connector hands over once someone has proven who they are. The pair
 * (connectorId, subject) is the key into `user_idp`.
 */
export interface Identity {
  connectorId: string;
  subject: string;
  email?: string | undefined;
  emailVerified: boolean;
  name?: string | undefined;
  /** An upstream provider's `amr` (RFC 8176 names only; identity/mfa/amr.ts): passed on after `fed`. */
  amr?: string[] | undefined;
}
