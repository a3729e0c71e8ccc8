/** Removing one `user_idp` link (the rest of `user_idp` lives in ./users.ts). Plain rows, no policy. */
import type { DbOrTrx } from '../knex.ts';

/** Removes one identity link of a user; true when it was there. */
export async function deleteUserIdp(db: DbOrTrx, userId: string, connectorId: string, subject: string): Promise<boolean> {
  return (await db('user_idp').where({ user_id: userId, connector_id: connectorId, subject }).delete()) === 1;
}
