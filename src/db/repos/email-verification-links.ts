/**
 * A confirmation link (`email_verification`) in whatever state it is: the
 * pages that tell a used or expired link from an unknown one read it here.
 * Reading only. (Creating and using links: ./users.ts.)
 */
import type { DbOrTrx } from '../knex.ts';

export interface EmailVerificationRow {
  token_hash: string;
  local_account_id: string;
  expires_at: number;
  used_at: number | null;
}

export async function findEmailVerificationLink(db: DbOrTrx, tokenHash: string): Promise<EmailVerificationRow | undefined> {
  const row: Record<string, unknown> | undefined = await db('email_verification').where({ token_hash: tokenHash }).first();
  return (
    row && {
      token_hash: String(row.token_hash),
      local_account_id: String(row.local_account_id),
      expires_at: Number(row.expires_at),
      used_at: row.used_at === null || row.used_at === undefined ? null : Number(row.used_at),
    }
  );
}
