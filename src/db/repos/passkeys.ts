/**
 * Passkeys (rows of `mfa_factor` with kind `passkey`) and `webauthn_challenge` (issue 15): registered WebAuthn
 * credentials, and the challenges handed out for a registration or a sign-in.
 * A challenge is taken once: one conditional DELETE whose row count says who
 * won; a counter moves by a conditional UPDATE (only forwards). Plain rows, no policy.
 */
import { insertUnique } from '../flavor.ts';
import type { DbOrTrx } from '../knex.ts';

export type ChallengePurpose = 'registration' | 'authentication';

export interface WebauthnChallengeRow {
  id: string;
  purpose: ChallengePurpose;
  challenge: string;
  user_id: string | null;
  context: string | null;
  created_at: number;
  expires_at: number;
}

/** A passkey: a row of `mfa_factor` with kind `passkey`, its credential data kept as JSON in `secret`. */
export interface PasskeyRow {
  id: string;
  user_id: string;
  credential_id: string;
  /** base64url COSE public key. */
  public_key: string;
  counter: number;
  transports: string[];
  name: string;
  /** 'singleDevice' | 'multiDevice' (synced). */
  device_type: string;
  backed_up: boolean;
  created_at: number;
  last_used_at: number | null;
}

interface PasskeySecret {
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
}

const nullable = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

const toChallenge = (row: Record<string, unknown>): WebauthnChallengeRow => ({
  id: String(row.id),
  purpose: row.purpose === 'registration' ? 'registration' : 'authentication',
  challenge: String(row.challenge),
  user_id: nullable(row.user_id),
  context: nullable(row.context),
  created_at: Number(row.created_at),
  expires_at: Number(row.expires_at),
});

const secretOf = (row: Pick<PasskeyRow, 'public_key' | 'counter' | 'transports' | 'device_type' | 'backed_up'>): string =>
  JSON.stringify({
    publicKey: row.public_key,
    counter: row.counter,
    transports: row.transports,
    deviceType: row.device_type,
    backedUp: row.backed_up,
  } satisfies PasskeySecret);

const toPasskey = (row: Record<string, unknown>): PasskeyRow => {
  let secret: Partial<PasskeySecret> = {};
  try {
    secret = JSON.parse(String(row.secret)) as Partial<PasskeySecret>;
  } catch {
    // A damaged row verifies nothing: its empty key fails every signature.
  }
  return {
    id: String(row.id),
    user_id: String(row.user_id),
    credential_id: String(row.credential_id),
    public_key: typeof secret.publicKey === 'string' ? secret.publicKey : '',
    counter: Number(secret.counter ?? 0),
    transports: Array.isArray(secret.transports) ? secret.transports.filter((t): t is string => typeof t === 'string') : [],
    name: String(row.name),
    device_type: typeof secret.deviceType === 'string' ? secret.deviceType : 'singleDevice',
    backed_up: secret.backedUp === true,
    created_at: Number(row.created_at),
    last_used_at: row.last_used_at === null || row.last_used_at === undefined ? null : Number(row.last_used_at),
  };
};

const passkeys = (db: DbOrTrx) => db('mfa_factor').where({ kind: 'passkey' });

export async function insertWebauthnChallenge(db: DbOrTrx, row: WebauthnChallengeRow): Promise<void> {
  await insertUnique(db('webauthn_challenge').insert(row), 'challenge');
}

/**
 * Takes the challenge once: deleted by this call, returned to the one caller
 * whose DELETE removed it, and only while unexpired and of this purpose.
 */
export async function takeWebauthnChallenge(db: DbOrTrx, id: string, purpose: ChallengePurpose, now: number): Promise<WebauthnChallengeRow | undefined> {
  const row = (await db('webauthn_challenge').where({ id }).first()) as Record<string, unknown> | undefined;
  if (!row) return undefined;
  const deleted = await db('webauthn_challenge').where({ id }).delete();
  if (deleted !== 1) return undefined;
  const found = toChallenge(row);
  return found.purpose === purpose && found.expires_at > now ? found : undefined;
}

/** Forgets challenges that expired before `before` (housekeeping); returns how many. */
export async function deleteExpiredWebauthnChallenges(db: DbOrTrx, before: number): Promise<number> {
  return db('webauthn_challenge').where('expires_at', '<', before).delete();
}

export async function insertPasskey(db: DbOrTrx, row: PasskeyRow): Promise<void> {
  await insertUnique(
    db('mfa_factor').insert({
      id: row.id,
      user_id: row.user_id,
      kind: 'passkey',
      name: row.name,
      secret: secretOf(row),
      credential_id: row.credential_id,
      last_step: null,
      created_at: row.created_at,
      confirmed_at: row.created_at,
      last_used_at: row.last_used_at,
    }),
    'passkey',
  );
}

export async function listPasskeys(db: DbOrTrx, userId: string): Promise<PasskeyRow[]> {
  const rows = (await passkeys(db).andWhere({ user_id: userId }).orderBy('created_at', 'asc').orderBy('id', 'asc')) as Record<string, unknown>[];
  return rows.map(toPasskey);
}

export async function findPasskeyByCredentialId(db: DbOrTrx, credentialId: string): Promise<PasskeyRow | undefined> {
  const row = (await passkeys(db).andWhere({ credential_id: credentialId }).first()) as Record<string, unknown> | undefined;
  return row && toPasskey(row);
}

export async function findPasskey(db: DbOrTrx, userId: string, id: string): Promise<PasskeyRow | undefined> {
  const row = (await passkeys(db).andWhere({ user_id: userId, id }).first()) as Record<string, unknown> | undefined;
  return row && toPasskey(row);
}

/**
 * Records a use of `passkey` as read: its counter moves to `counter` only if
 * that is higher (or both are 0: authenticators that keep no counter), and
 * only if the row is still as read (a compare-and-swap on its data), so of
 * two uses of one answer only one wins. True for the caller that moved it.
 */
export async function usePasskey(db: DbOrTrx, passkey: PasskeyRow, counter: number, now: number): Promise<boolean> {
  if (!(counter > passkey.counter || (counter === 0 && passkey.counter === 0))) return false;
  const changed = await passkeys(db)
    .andWhere({ id: passkey.id, secret: secretOf(passkey) })
    .update({ secret: secretOf({ ...passkey, counter }), last_used_at: now });
  return changed === 1;
}

export async function deletePasskey(db: DbOrTrx, userId: string, id: string): Promise<boolean> {
  return (await passkeys(db).andWhere({ user_id: userId, id }).delete()) === 1;
}
