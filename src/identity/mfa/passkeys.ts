/**
 * Passkeys (WebAuthn, issue 15) with @simplewebauthn/server: the relying
 * party is the issuer's host name and origin; registration and sign-in are
 * two steps each (options with a challenge kept server-side, then the
 * browser's answer verified against it). A challenge is single use and
 * lives `challengeTtlMs` on the injected clock. Sign-ins use discoverable
 * credentials (no allowCredentials): the passkey says whose it is. A
 * signature counter that does not move forwards is refused (a cloned key).
 *
 * `amr` (RFC 8176) of a passkey sign-in: `hwk` for a device-bound passkey,
 * `swk` for a synced one (backed up, multi-device), plus `user` when the
 * authenticator verified the person (PIN or biometric), which makes the
 * passkey alone two factors (something held and something known or been).
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * @simplewebauthn/server and what it pulls in (ASN.1, CBOR, COSE) weigh ~10 MB
 * of memory: loaded at the first passkey ceremony, not at start-up.
 */
let webauthnModule: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (webauthnModule ??= import('@simplewebauthn/server'));
import type { Db, DbOrTrx } from '../../db/knex.ts';
import {
  deleteExpiredWebauthnChallenges,
  deletePasskey,
  findPasskey,
  findPasskeyByCredentialId,
  insertPasskey,
  insertWebauthnChallenge,
  listPasskeys,
  takeWebauthnChallenge,
  usePasskey,
  type PasskeyRow,
} from '../../db/repos/passkeys.ts';
import type { Audit } from '../../audit/audit.ts';
import { GatehouseError } from '../../errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { newId, randomId } from '../../lib/secrets.ts';
import { withTransaction } from '../../db/transaction.ts';

/** The change and its audit entry in one transaction (or in the caller's, when it hands one in). */
const inOne = (db: DbOrTrx, work: (db: DbOrTrx) => Promise<void>): Promise<void> =>
  'isTransaction' in db && db.isTransaction ? work(db) : withTransaction(db as Db, work);

export type { PasskeyRow } from '../../db/repos/passkeys.ts';

/** How long a browser has between asking for options and answering: 5 minutes. */
export const challengeTtlMs = 5 * 60_000;

export interface RelyingParty {
  /** The issuer's host name (WebAuthn refuses IP addresses here). */
  rpID: string;
  rpName: string;
  /** The issuer's origin (scheme, host, port). */
  origin: string;
  userVerification: 'preferred' | 'required';
}

export function relyingPartyOf(issuer: string, userVerification: 'preferred' | 'required', rpName = 'Gatehouse'): RelyingParty {
  const url = new URL(issuer);
  return { rpID: url.hostname, rpName, origin: url.origin, userVerification };
}

export interface PasskeyDeps {
  db: DbOrTrx;
  clock: Clock;
  audit: Audit;
  rp: RelyingParty;
}

export interface PasskeyUse {
  userId: string;
  passkeyId: string;
  /** RFC 8176 values for this sign-in (see the header). */
  amr: string[];
  userVerified: boolean;
}

const bad = (message: string, cause?: unknown) => new GatehouseError('input.invalid', message, undefined, cause === undefined ? undefined : { cause });

export const cleanPasskeyName = (name: string): string => name.replace(/\s+/g, ' ').trim().slice(0, 100);

/** The browser's answer as simplewebauthn expects it: an object with an id and a response; the library checks the rest. */
function credentialJson(value: unknown): { id: string; response: Record<string, unknown> } & Record<string, unknown> {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (err) {
      throw bad('The passkey answer is not valid JSON.', err);
    }
  }
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== 'object' || typeof v.id !== 'string' || !v.response || typeof v.response !== 'object') {
    throw bad('The passkey answer is missing or malformed.');
  }
  return v as { id: string; response: Record<string, unknown> } & Record<string, unknown>;
}

/** Options for `startRegistration`: the person's existing passkeys are excluded; a resident (discoverable) key is required. */
export async function registrationOptions(
  deps: PasskeyDeps,
  user: { id: string; email: string | null; name: string | null },
  passkeyName: string,
): Promise<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }> {
  const name = cleanPasskeyName(passkeyName);
  if (!name) throw new GatehouseError('input.invalid', 'Give the passkey a name, for example the device it is on.', { field: 'name' });
  const existing = await listPasskeys(deps.db, user.id);
  const options = await (
    await webauthn()
  ).generateRegistrationOptions({
    rpName: deps.rp.rpName,
    rpID: deps.rp.rpID,
    userName: user.email ?? user.id,
    userDisplayName: user.name ?? user.email ?? '',
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    timeout: challengeTtlMs,
    excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: deps.rp.userVerification },
  });
  const challengeId = await keepChallenge(deps, 'registration', options.challenge, user.id, name);
  return { challengeId, options };
}

/** Verifies the browser's answer to a registration challenge of this user and stores the passkey. */
export async function finishRegistration(
  deps: PasskeyDeps,
  userId: string,
  challengeId: string,
  response: unknown,
  actor: string,
): Promise<PasskeyRow & { amr: string[] }> {
  const json = credentialJson(response);
  const challenge = await takeWebauthnChallenge(deps.db, challengeId, 'registration', deps.clock.now());
  if (!challenge || challenge.user_id !== userId) throw bad('This passkey request has expired or was already used. Try again.');
  let verified;
  try {
    verified = await (
      await webauthn()
    ).verifyRegistrationResponse({
      response: json as unknown as RegistrationResponseJSON,
      expectedChallenge: challenge.challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.rpID,
      requireUserVerification: deps.rp.userVerification === 'required',
    });
  } catch (err) {
    throw bad(`The passkey could not be verified: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!verified.verified) throw bad('The passkey could not be verified.');
  const info = verified.registrationInfo;
  const row: PasskeyRow = {
    id: newId(),
    user_id: userId,
    credential_id: info.credential.id,
    public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    transports: info.credential.transports ?? [],
    name: challenge.context ?? 'Passkey',
    device_type: info.credentialDeviceType,
    backed_up: info.credentialBackedUp,
    created_at: deps.clock.now(),
    last_used_at: null,
  };
  await inOne(deps.db, async (db) => {
    await insertPasskey(db, row);
    await deps.audit.record(db, { actor, action: 'mfa.factor_added', subject: userId, details: { factor: row.id, kind: 'passkey', name: row.name } });
  });
  // Making a passkey proves holding it too: the same amr as a sign-in with it (a second factor set up in a sign-in).
  return { ...row, amr: [...amrOfKey(row.device_type, row.backed_up), ...(info.userVerified ? ['user'] : [])] };
}

const amrOfKey = (deviceType: string, backedUp: boolean): string[] => [deviceType === 'multiDevice' || backedUp ? 'swk' : 'hwk'];

/**
 * Options for `startAuthentication`: discoverable credentials (no
 * allowCredentials) for a passwordless sign-in, or this user's passkeys when
 * `userId` is given (a passkey as the second factor). `context` ties the
 * challenge to where it is answered (an interaction uid).
 */
export async function authenticationOptions(
  deps: PasskeyDeps,
  options: { userId?: string; context?: string } = {},
): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const allow = options.userId ? (await listPasskeys(deps.db, options.userId)).map((p) => ({ id: p.credential_id, transports: p.transports })) : undefined;
  const generated = await (
    await webauthn()
  ).generateAuthenticationOptions({
    rpID: deps.rp.rpID,
    userVerification: deps.rp.userVerification,
    timeout: challengeTtlMs,
    ...(allow ? { allowCredentials: allow } : {}),
  });
  const challengeId = await keepChallenge(deps, 'authentication', generated.challenge, options.userId ?? null, options.context ?? null);
  return { challengeId, options: generated };
}

/**
 * Verifies a sign-in answer: the challenge (once, unexpired, of this
 * context and, when given, this user), the passkey's signature, and a
 * counter that moves forwards; records the use. Returns whose passkey it is.
 */
export async function finishAuthentication(
  deps: PasskeyDeps,
  challengeId: string,
  response: unknown,
  expect: { userId?: string; context?: string } = {},
): Promise<PasskeyUse> {
  const json = credentialJson(response);
  const now = deps.clock.now();
  const challenge = await takeWebauthnChallenge(deps.db, challengeId, 'authentication', now);
  if (!challenge || (challenge.context ?? undefined) !== expect.context || (expect.userId !== undefined && challenge.user_id !== expect.userId)) {
    throw bad('This passkey request has expired or was already used. Try again.');
  }
  const passkey = await findPasskeyByCredentialId(deps.db, json.id);
  if (!passkey || (challenge.user_id !== null && passkey.user_id !== challenge.user_id)) {
    throw bad('This passkey is not registered here. Sign in another way, then add it under Security.');
  }
  let verified;
  try {
    verified = await (
      await webauthn()
    ).verifyAuthenticationResponse({
      response: json as unknown as AuthenticationResponseJSON,
      expectedChallenge: challenge.challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.rpID,
      credential: {
        id: passkey.credential_id,
        publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')),
        counter: passkey.counter,
        transports: passkey.transports,
      },
      requireUserVerification: deps.rp.userVerification === 'required',
    });
  } catch (err) {
    throw bad(`The passkey could not be verified: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!verified.verified) throw bad('The passkey could not be verified.');
  const info = verified.authenticationInfo;
  // Conditional: a concurrent use with the same counter loses (a replayed or cloned answer).
  if (!(await usePasskey(deps.db, passkey, info.newCounter, now))) throw bad('The passkey could not be verified: its counter did not move forwards.');
  const amr = amrOfKey(info.credentialDeviceType, info.credentialBackedUp);
  if (info.userVerified) amr.push('user');
  return { userId: passkey.user_id, passkeyId: passkey.id, amr, userVerified: info.userVerified };
}

export function passkeysOf(db: DbOrTrx, userId: string): Promise<PasskeyRow[]> {
  return listPasskeys(db, userId);
}

export async function passkeyOf(db: DbOrTrx, userId: string, id: string): Promise<PasskeyRow> {
  const found = await findPasskey(db, userId, id);
  if (!found) throw new GatehouseError('not_found', 'That passkey is not registered to your account.');
  return found;
}

export async function removePasskey(deps: Pick<PasskeyDeps, 'db' | 'audit'>, userId: string, id: string, actor: string): Promise<void> {
  const found = await passkeyOf(deps.db, userId, id);
  await inOne(deps.db, async (db) => {
    if (!(await deletePasskey(db, userId, id))) throw new GatehouseError('not_found', 'That passkey is not registered to your account.');
    await deps.audit.record(db, { actor, action: 'mfa.factor_removed', subject: userId, details: { factor: id, kind: 'passkey', name: found.name } });
  });
}

async function keepChallenge(deps: PasskeyDeps, purpose: 'registration' | 'authentication', challenge: string, userId: string | null, context: string | null) {
  const id = randomId();
  const now = deps.clock.now();
  // Housekeeping on the way: challenges nobody answered are forgotten once expired (an indexed DELETE).
  await deleteExpiredWebauthnChallenges(deps.db, now);
  await insertWebauthnChallenge(deps.db, { id, purpose, challenge, user_id: userId, context, created_at: now, expires_at: now + challengeTtlMs });
  return id;
}
