/**
 * Taking a user's link to one ACL token away (an admin revoking that user's
 * access to a client, gating/access.ts `revokeAccess`). Belongs beside the
 * other `user_acl_token` functions in ./acl-tokens.ts; kept apart only because
 * that file had another owner when this was written.
 */
import type { DbOrTrx } from '../knex.ts';

/** Removes the link between a user and an ACL token; true when there was one. */
export async function unlinkUserFromAclToken(db: DbOrTrx, userId: string, aclTokenId: string): Promise<boolean> {
  return (await db('user_acl_token').where({ user_id: userId, acl_token_id: aclTokenId }).delete()) > 0;
}
