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
}
