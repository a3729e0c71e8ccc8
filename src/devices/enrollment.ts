/**
 * Devices that enroll themselves with a signed registration JWT (SPEC 6.2,
 * Losant-style): identical firmware carries one JWT (HS256 with
 * `deviceRegistration.jwt.secret`); each device presents it with its own
 * manufacturer id and gets its own client_credentials client. The JWT is
 * checked (signature, algorithm, issuer, expiry, `iat` not in the future), its
 * jti must name a live device token, its `--max-devices` count is taken by a
 * conditional UPDATE in the same transaction that stores the client, and a
 * manufacturer id enrolls once (a unique index decides races). Every outcome
 * is audited. Depends on db, audit, lib.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { Audit } from '../audit/audit.ts';
import type { Config } from '../config/schema.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import {
  findDeviceToken, insertDeviceToken, listDeviceTokens, revokeDeviceToken, takeDeviceTokenUse, type DeviceTokenRow,
} from '../db/repos/device-tokens.ts';
import { upsertModel } from '../db/repos/oidc-models.ts';
import { findRegisteredClientByManufacturerId, insertRegisteredClient } from '../db/repos/registration.ts';
import { withTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId, randomSecret } from '../lib/secrets.ts';

export interface NewDeviceToken {
  expiresAt: number;
  maxDevices: number;
  clientTemplate?: string | null;
  description?: string | null;
}

export interface EnrolledDevice {
  deviceId: string;
  accessKey: string;
  accessSecret: string;
  clientId: string;
  clientSecret: string;
  tokenEndpoint: string;
}

export const manufacturerIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** A device clock may run a little ahead; beyond this an `iat` in the future is refused. */
const clockToleranceSec = 30;

const refuse = (why: string) => new GatehouseError('device.invalid_token', why);

function explain(err: unknown, issuer: string, token: string): GatehouseError {
  if (err instanceof joseErrors.JWTExpired) return refuse('the device token has expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refuse('the device token signature is not valid');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    let alg = 'an unknown algorithm';
    try {
      alg = String(decodeProtectedHeader(token).alg);
    } catch {
      // keep the generic words
    }
    return refuse(alg === 'none' ? 'the device token is not signed (alg none); it must be signed with HS256' : `the device token is signed with ${alg}; it must be signed with HS256`);
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return refuse(`the device token was not issued for this server (expected issuer ${issuer})`);
    return refuse(`the device token's "${err.claim}" claim is missing or not valid`);
  }
  return refuse('the device token is not a valid signed JWT');
}

export class DeviceEnrollment {
  private allowList?: { stamp: string; ids: Set<string> };

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly options: { deviceRegistration: Config['deviceRegistration']; issuer: string; clients: Config['clients'] },
  ) {}

  private signing?: { secret: KeyObject; issuer: string };

  /** The HMAC key, made once (importing it on every request cost ~12% of an enrollment). */
  private jwtConfig(): { secret: KeyObject; issuer: string } {
    const jwt = this.options.deviceRegistration.jwt;
    if (!jwt) throw new GatehouseError('config.invalid', 'deviceRegistration.jwt { secret, issuer } is not configured');
    this.signing ??= { secret: createSecretKey(Buffer.from(jwt.secret, 'utf8')), issuer: jwt.issuer };
    return this.signing;
  }

  registrationUrl(): string {
    return `${this.options.issuer}/api/register-device`;
  }

  async createToken(input: NewDeviceToken, actor: string): Promise<{ row: DeviceTokenRow; token: string }> {
    const { secret, issuer } = this.jwtConfig();
    const now = this.clock.now();
    if (!Number.isInteger(input.maxDevices) || input.maxDevices < 0 || input.maxDevices > 2_147_483_647) throw new GatehouseError('input.invalid', '--max-devices must be 0 (no limit) or a positive whole number up to 2147483647');
    if ((input.description?.length ?? 0) > 500) throw new GatehouseError('input.invalid', '--description must be at most 500 characters');
    if (input.expiresAt <= now) throw new GatehouseError('input.invalid', '--expires must be in the future');
    if (input.clientTemplate && !this.options.clients.some((c) => c.client_id === input.clientTemplate)) {
      throw new GatehouseError('not_found', `--client-template: no static client with id ${input.clientTemplate} in the config`);
    }
    const row: DeviceTokenRow = {
      id: newId(), description: input.description ?? null, max_devices: input.maxDevices, uses: 0, client_template: input.clientTemplate ?? null,
      expires_at: input.expiresAt, revoked_at: null, created_by: actor, created_at: now,
    };
    const token = await new SignJWT({ registration_url: this.registrationUrl(), ...(row.max_devices ? { max_devices: row.max_devices } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(issuer)
      .setJti(row.id)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(row.expires_at / 1000))
      .sign(secret);
    await withTransaction(this.db, async (trx) => {
      await insertDeviceToken(trx, row);
      await this.audit.record(trx, { actor, action: 'device_token.created', subject: row.id, details: { maxDevices: row.max_devices, expiresAt: row.expires_at, clientTemplate: row.client_template } });
    });
    return { row, token };
  }

  listTokens(): Promise<DeviceTokenRow[]> {
    return listDeviceTokens(this.db);
  }

  async getToken(id: string, db: DbOrTrx = this.db): Promise<DeviceTokenRow> {
    const row = await findDeviceToken(db, id);
    if (!row) throw new GatehouseError('not_found', `no device token with id ${id}`);
    return row;
  }

  async revokeToken(id: string, actor: string): Promise<DeviceTokenRow> {
    return withTransaction(this.db, async (trx) => {
      const row = await this.getToken(id, trx);
      const now = this.clock.now();
      await revokeDeviceToken(trx, id, now);
      await this.audit.record(trx, { actor, action: 'device_token.revoked', subject: id });
      return { ...row, revoked_at: row.revoked_at ?? now };
    });
  }

  /** POST /api/register-device. Refusals are audited and thrown; success is audited in the same transaction as the client. */
  async enroll(input: { token: string; manufacturerId: string; ip: string }): Promise<EnrolledDevice> {
    const actor = `device:${input.manufacturerId}@${input.ip}`;
    try {
      return await this.tryEnroll(input, actor);
    } catch (err) {
      if (err instanceof GatehouseError) {
        await this.audit.record(this.db, { actor, action: 'device.enroll_refused', details: { code: err.code, reason: err.message } });
      }
      throw err;
    }
  }

  /** Requests refused before `enroll` (malformed, rate-limited) are audited too, by address. */
  async recordRefusal(ip: string, err: GatehouseError): Promise<void> {
    await this.audit.record(this.db, { actor: `device:?@${ip}`, action: 'device.enroll_refused', details: { code: err.code, reason: err.message } });
  }

  private async tryEnroll(input: { token: string; manufacturerId: string }, actor: string): Promise<EnrolledDevice> {
    const { secret, issuer } = this.jwtConfig();
    let claims: { jti?: string; iat?: number };
    try {
      ({ payload: claims } = await jwtVerify(input.token, secret, {
        issuer, algorithms: ['HS256'], requiredClaims: ['exp', 'jti', 'iss'],
        currentDate: new Date(this.clock.now()),
      }));
    } catch (err) {
      throw explain(err, issuer, input.token);
    }
    const nowSec = Math.floor(this.clock.now() / 1000);
    if (typeof claims.iat === 'number' && claims.iat > nowSec + clockToleranceSec) throw refuse('the device token was issued in the future (check the device clock)');
    const row = await findDeviceToken(this.db, String(claims.jti));
    if (!row) throw refuse('the device token is not known here');
    if (row.revoked_at !== null) throw refuse('the device token has been revoked');
    if (!(await this.allowed(input.manufacturerId))) throw new GatehouseError('device.not_allowed', `manufacturer id ${input.manufacturerId} is not on the allow-list`);
    const earlier = await findRegisteredClientByManufacturerId(this.db, input.manufacturerId);
    if (earlier?.disabled_reason === 'revoked') {
      throw new GatehouseError('device.not_allowed', `the device with manufacturer id ${input.manufacturerId} was revoked and cannot enroll again`);
    }
    if (earlier) {
      throw new GatehouseError('device.duplicate', `a device with manufacturer id ${input.manufacturerId} is already enrolled`);
    }
    const template = row.client_template ? this.options.clients.find((c) => c.client_id === row.client_template) : undefined;
    const clientId = `dev_${randomSecret(12)}`;
    const clientSecret = randomSecret(32);
    try {
      await withTransaction(this.db, async (trx) => {
        const now = this.clock.now();
        if (!(await takeDeviceTokenUse(trx, row.id, now))) {
          throw refuse(row.max_devices > 0 ? `the device token has been used by the maximum number of devices (${row.max_devices})` : 'the device token can no longer be used');
        }
        await insertRegisteredClient(trx, {
          client_id: clientId, registration_token_id: null, via: 'jwt', kind: 'device', disabled_reason: null, disabled_at: null,
          created_at: now, manufacturer_id: input.manufacturerId, device_token_id: row.id, last_token_at: null,
        });
        const metadata = {
          client_id: clientId, client_secret: clientSecret, client_name: `Device ${input.manufacturerId}`,
          grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
          client_id_issued_at: Math.floor(now / 1000), client_secret_expires_at: 0,
          ...(typeof template?.scope === 'string' ? { scope: template.scope } : {}),
        };
        await upsertModel(trx, { kind: 'Client', id: clientId, payload: JSON.stringify(metadata), grant_id: null, user_code: null, uid: null, account_id: null, expires_at: null, consumed_at: null });
        await this.audit.record(trx, { actor, action: 'device.enrolled', subject: clientId, details: { manufacturerId: input.manufacturerId, deviceToken: row.id } });
      });
    } catch (err) {
      // Two enrollments of one manufacturer id at once: the unique index lets one in (the other's insert is `already_exists`).
      if ((!(err instanceof GatehouseError) || err.code === 'already_exists') && (await findRegisteredClientByManufacturerId(this.db, input.manufacturerId))) {
        throw new GatehouseError('device.duplicate', `a device with manufacturer id ${input.manufacturerId} is already enrolled`);
      }
      throw err;
    }
    return { deviceId: clientId, accessKey: clientId, accessSecret: clientSecret, clientId, clientSecret, tokenEndpoint: `${this.options.issuer}/token` };
  }

  /** The allow-list file (one id per line, # comments), re-read when it changes. */
  private async allowed(manufacturerId: string): Promise<boolean> {
    const file = this.options.deviceRegistration.allowedManufacturerIds;
    if (!file) return true;
    try {
      const { mtimeMs, size, ino } = await stat(file);
      const stamp = `${mtimeMs}:${size}:${ino}`;
      if (this.allowList?.stamp !== stamp) {
        const ids = (await readFile(file, 'utf8')).split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
        this.allowList = { stamp, ids: new Set(ids) };
      }
    } catch {
      // Checked at start-up; if it went away since, the last list read stands, and without one nobody is allowed.
      if (!this.allowList) throw new GatehouseError('device.not_allowed', 'the manufacturer id allow-list cannot be read; ask the operator');
    }
    return this.allowList.ids.has(manufacturerId);
  }

  /** Start-up check: a configured allow-list file must be readable. */
  async checkAllowList(): Promise<void> {
    const file = this.options.deviceRegistration.allowedManufacturerIds;
    if (!file) return;
    try {
      await readFile(file, 'utf8');
    } catch (err) {
      throw new GatehouseError('config.invalid', `deviceRegistration.allowedManufacturerIds: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}
