/**
 * Passkeys (identity/mfa/passkeys.ts) on SQLite and PostgreSQL, with a small
 * software authenticator (P-256, "none" attestation) made here: register, sign
 * in with a discoverable credential, the challenge once and for 5 minutes on
 * the injected clock, a counter that does not move forwards refused, another
 * origin or another person's challenge refused, user verification preferred
 * or required, remove.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Audit } from '../../src/audit/audit.ts';
import { createKnex, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { insertUser } from '../../src/db/repos/users.ts';
import type { Clock } from '../../src/lib/clock.ts';
import {
  authenticationOptions,
  challengeTtlMs,
  finishAuthentication,
  finishRegistration,
  passkeysOf,
  registrationOptions,
  relyingPartyOf,
  removePasskey,
  type PasskeyDeps,
} from '../../src/identity/mfa/passkeys.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';

const b64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
const sha = (data: Uint8Array | Buffer | string) => createHash('sha256').update(data).digest();

/** A software authenticator: one P-256 key per credential, user verified, a counter it keeps. */
class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly keys: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  counter = 0;
  /** Whether the person was verified (PIN, biometric) in the next answer. */
  verified = true;

  constructor(
    private readonly rpID: string,
    private readonly origin: string,
  ) {}

  private clientData(type: string, challenge: string, origin = this.origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  register(challenge: string, origin?: string) {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(Buffer.from(String(jwk.x), 'base64url'))],
      [-3, new Uint8Array(Buffer.from(String(jwk.y), 'base64url'))],
    ]);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha(this.rpID),
      Buffer.from([0x45]), // UP | UV | AT
      Buffer.alloc(4),
      Buffer.alloc(16), // aaguid
      idLength,
      this.credentialId,
      Buffer.from(isoCBOR.encode(cose)),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Map<string, string> | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, string>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    return {
      id: b64(this.credentialId),
      rawId: b64(this.credentialId),
      type: 'public-key',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64(this.clientData('webauthn.create', challenge, origin)),
        attestationObject: b64(attestationObject),
        transports: ['internal'],
      },
    };
  }

  /** An assertion with the counter as it is now (`next()` first to move it). */
  assert(challenge: string, origin?: string) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const authData = Buffer.concat([sha(this.rpID), Buffer.from([this.verified ? 0x05 : 0x01]), counter]); // UP (| UV)
    const clientDataJSON = this.clientData('webauthn.get', challenge, origin);
    const signature = sign('sha256', Buffer.concat([authData, sha(clientDataJSON)]), this.keys.privateKey);
    return {
      id: b64(this.credentialId),
      rawId: b64(this.credentialId),
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: '' },
    };
  }
}

describe.each(databaseKinds)('passkeys on %s', (kind) => {
  let db: TestDatabase;
  let knex: Db;
  let now = Date.UTC(2026, 11, 1, 12);
  const clock: Clock = { now: () => now };
  const rp = relyingPartyOf('http://localhost:4000/', 'preferred');
  let deps: PasskeyDeps;
  let counter = 0;

  const newUser = async () => {
    counter += 1;
    const id = `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
    await insertUser(knex, {
      id,
      email: `p${counter}@example.com`,
      email_verified: true,
      name: `Person ${counter}`,
      status: 'active',
      created_at: now,
      last_login_at: null,
    });
    return { id, email: `p${counter}@example.com`, name: `Person ${counter}` };
  };

  const registered = async () => {
    const user = await newUser();
    const auth = new SoftAuthenticator(rp.rpID, rp.origin);
    const { challengeId, options } = await registrationOptions(deps, user, '  My   laptop ');
    const row = await finishRegistration(deps, user.id, challengeId, auth.register(options.challenge), user.id);
    return { user, auth, row };
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    knex = createKnex(db.config);
    await migrateLatest(knex);
    deps = { db: knex, clock, audit: new Audit(clock), rp };
  });

  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  it('derives the relying party from the issuer', () => {
    expect(relyingPartyOf('https://id.example.com/tenant', 'required')).toEqual({
      rpID: 'id.example.com',
      rpName: 'Gatehouse',
      origin: 'https://id.example.com',
      userVerification: 'required',
    });
  });

  it('registers a passkey (a discoverable credential) as a second factor of its person, named', async () => {
    const user = await newUser();
    const { options } = await registrationOptions(deps, user, 'x');
    expect(options.rp).toEqual({ id: 'localhost', name: 'Gatehouse' });
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'preferred' });
    const { row, user: owner } = await registered();
    expect(row).toMatchObject({ user_id: owner.id, name: 'My laptop', counter: 0, transports: ['internal'], last_used_at: null, created_at: now });
    expect((await passkeysOf(knex, owner.id)).map((p) => p.id)).toEqual([row.id]);
    const factor = await knex('mfa_factor').where({ id: row.id }).first();
    expect(factor).toMatchObject({ kind: 'passkey', credential_id: row.credential_id });
    await expect(registrationOptions(deps, user, '   ')).rejects.toMatchObject({ code: 'input.invalid', details: { field: 'name' } });
  });

  it('takes a registration challenge once, for its own person only, and only for 5 minutes on the clock', async () => {
    const user = await newUser();
    const other = await newUser();
    const auth = new SoftAuthenticator(rp.rpID, rp.origin);
    const first = await registrationOptions(deps, user, 'Key');
    await expect(finishRegistration(deps, other.id, first.challengeId, auth.register(first.options.challenge), other.id)).rejects.toMatchObject({
      code: 'input.invalid',
    });
    // Taken by the wrong person's attempt: gone for everyone.
    await expect(finishRegistration(deps, user.id, first.challengeId, auth.register(first.options.challenge), user.id)).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const late = await registrationOptions(deps, user, 'Key');
    now += challengeTtlMs;
    await expect(finishRegistration(deps, user.id, late.challengeId, auth.register(late.options.challenge), user.id)).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const inTime = await registrationOptions(deps, user, 'Key');
    now += challengeTtlMs - 1;
    await finishRegistration(deps, user.id, inTime.challengeId, auth.register(inTime.options.challenge), user.id);
    await expect(finishRegistration(deps, user.id, inTime.challengeId, auth.register(inTime.options.challenge), user.id)).rejects.toMatchObject({
      code: 'input.invalid',
    });
    expect(await passkeysOf(knex, user.id)).toHaveLength(1);
    // Expired challenges are forgotten when the next one is handed out.
    await registrationOptions(deps, user, 'Key');
    expect(Number((await knex('webauthn_challenge').where('expires_at', '<', now).count({ n: '*' }).first())?.n)).toBe(0);
  });

  it('refuses an answer made for another origin, and garbage, without a 500', async () => {
    const user = await newUser();
    const auth = new SoftAuthenticator(rp.rpID, rp.origin);
    const wrong = await registrationOptions(deps, user, 'Key');
    await expect(
      finishRegistration(deps, user.id, wrong.challengeId, auth.register(wrong.options.challenge, 'http://evil.example'), user.id),
    ).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const junk = await registrationOptions(deps, user, 'Key');
    await expect(finishRegistration(deps, user.id, junk.challengeId, '{not json', user.id)).rejects.toMatchObject({ code: 'input.invalid' });
    await expect(finishRegistration(deps, user.id, junk.challengeId, { id: 'x', response: {} }, user.id)).rejects.toMatchObject({ code: 'input.invalid' });
    expect(await passkeysOf(knex, user.id)).toEqual([]);
  });

  it('signs in with a discoverable passkey (no allowCredentials): whose it is, amr hwk + user, last used and counter kept', async () => {
    const { user, auth, row } = await registered();
    const { challengeId, options } = await authenticationOptions(deps, { context: 'uid-1' });
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.rpId).toBe('localhost');
    auth.counter = 1;
    now += 1000;
    const use = await finishAuthentication(deps, challengeId, auth.assert(options.challenge), { context: 'uid-1' });
    expect(use).toEqual({ userId: user.id, passkeyId: row.id, amr: ['hwk', 'user'], userVerified: true });
    const [after] = await passkeysOf(knex, user.id);
    expect(after).toMatchObject({ counter: 1, last_used_at: now });
  });

  it('takes a sign-in challenge once, only in its context and for 5 minutes', async () => {
    const { auth } = await registered();
    const once = await authenticationOptions(deps, { context: 'uid-2' });
    auth.counter = 1;
    await finishAuthentication(deps, once.challengeId, auth.assert(once.options.challenge), { context: 'uid-2' });
    auth.counter = 2;
    await expect(finishAuthentication(deps, once.challengeId, auth.assert(once.options.challenge), { context: 'uid-2' })).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const elsewhere = await authenticationOptions(deps, { context: 'uid-3' });
    await expect(finishAuthentication(deps, elsewhere.challengeId, auth.assert(elsewhere.options.challenge), { context: 'uid-4' })).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const late = await authenticationOptions(deps, { context: 'uid-5' });
    now += challengeTtlMs;
    await expect(finishAuthentication(deps, late.challengeId, auth.assert(late.options.challenge), { context: 'uid-5' })).rejects.toMatchObject({
      code: 'input.invalid',
    });
  });

  it('refuses a counter that does not move forwards (a cloned key), and keeps the stored one', async () => {
    const { user, auth } = await registered();
    auth.counter = 5;
    const first = await authenticationOptions(deps);
    await finishAuthentication(deps, first.challengeId, auth.assert(first.options.challenge));
    for (const stale of [5, 4, 0]) {
      auth.counter = stale;
      const again = await authenticationOptions(deps);
      await expect(finishAuthentication(deps, again.challengeId, auth.assert(again.options.challenge))).rejects.toMatchObject({ code: 'input.invalid' });
    }
    expect((await passkeysOf(knex, user.id))[0]?.counter).toBe(5);
    auth.counter = 6;
    const next = await authenticationOptions(deps);
    await finishAuthentication(deps, next.challengeId, auth.assert(next.options.challenge));
  });

  it("as a second factor: only that person's passkeys are allowed, another person's passkey is refused", async () => {
    const { user, auth } = await registered();
    const { auth: othersKey } = await registered();
    const mine = await authenticationOptions(deps, { userId: user.id, context: 'uid-6' });
    expect(mine.options.allowCredentials?.map((c) => c.id)).toEqual([b64(auth.credentialId)]);
    othersKey.counter = 1;
    await expect(
      finishAuthentication(deps, mine.challengeId, othersKey.assert(mine.options.challenge), { userId: user.id, context: 'uid-6' }),
    ).rejects.toMatchObject({
      code: 'input.invalid',
    });
    const again = await authenticationOptions(deps, { userId: user.id, context: 'uid-6' });
    auth.counter = 1;
    expect((await finishAuthentication(deps, again.challengeId, auth.assert(again.options.challenge), { userId: user.id, context: 'uid-6' })).userId).toBe(
      user.id,
    );
  });

  it('user verification: preferred accepts an unverified answer (amr hwk alone), required refuses it', async () => {
    const { user, auth } = await registered();
    auth.verified = false;
    auth.counter = 1;
    const preferred = await authenticationOptions(deps);
    expect((await finishAuthentication(deps, preferred.challengeId, auth.assert(preferred.options.challenge))).amr).toEqual(['hwk']);
    const strict: PasskeyDeps = { ...deps, rp: relyingPartyOf('http://localhost:4000/', 'required') };
    const required = await authenticationOptions(strict);
    expect(required.options.userVerification).toBe('required');
    auth.counter = 2;
    await expect(finishAuthentication(strict, required.challengeId, auth.assert(required.options.challenge))).rejects.toMatchObject({ code: 'input.invalid' });
    expect((await passkeysOf(knex, user.id))[0]?.counter).toBe(1);
  });

  it('removes a passkey (audited); a removed passkey signs in no more; not another person’s', async () => {
    const { user, auth, row } = await registered();
    const other = await newUser();
    await expect(removePasskey(deps, other.id, row.id, other.id)).rejects.toMatchObject({ code: 'not_found' });
    await removePasskey(deps, user.id, row.id, user.id);
    expect(await passkeysOf(knex, user.id)).toEqual([]);
    const audit = await knex('audit_log').where({ subject: user.id }).orderBy('id');
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['mfa.factor_added', 'mfa.factor_removed']);
    const { challengeId, options } = await authenticationOptions(deps);
    auth.counter = 1;
    await expect(finishAuthentication(deps, challengeId, auth.assert(options.challenge))).rejects.toMatchObject({ code: 'input.invalid' });
  });
});
