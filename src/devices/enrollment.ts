/**
 * Devices that enroll themselves with a signed registration JWT (SPEC 6.2,
 * Losant-style): identical firmware carries one JWT (see tokens.ts); each
 * device presents it with its own manufacturer id and gets its own
 * client_credentials client. The jti must name a live device token, the id
 * must be on the allow-list (allow-list.ts), the token's `--max-devices` count
 * is taken by a conditional UPDATE in the same transaction that stores the
 * client, and a manufacturer id enrolls once (a unique index decides races).
 * Every outcome is audited. Depends on db, audit, lib.
 */
import { createSecretKey } from 'node:crypto';
import type { Audit } from '../audit/audit.ts';
import type { Config } from '../config/schema.ts';
import type { Db, DbOrTrx } from '../db/knex.ts';
import { findDeviceToken, insertDeviceToken, listDeviceTokens, revokeDeviceToken, takeDeviceTokenUse, type DeviceTokenRow } from '../db/repos/device-tokens.ts';
import { modelRow, upsertModel } from '../db/repos/oidc-models.ts';
import { findRegisteredClientByManufacturerId, insertRegisteredClient } from '../db/repos/registration.ts';
import { withTransaction, withWriteTransaction } from '../db/transaction.ts';
import { GatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId, randomSecret } from '../lib/secrets.ts';
import { ManufacturerAllowList } from './allow-list.ts';
import { refuseDeviceToken as refuse, signDeviceToken, verifyDeviceToken, type DeviceTokenSigning } from './tokens.ts';

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

export class DeviceEnrollment {
  private readonly allowList: ManufacturerAllowList;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
    private readonly options: { deviceRegistration: Config['deviceRegistration']; issuer: string; clients: Config['clients'] },
  ) {
    this.allowList = new ManufacturerAllowList(options.deviceRegistration.allowedManufacturerIds);
  }

  private signing?: DeviceTokenSigning;

  /** The HMAC key, made once (importing it on every request cost ~12% of an enrollment). */
  private jwtConfig(): DeviceTokenSigning {
    const jwt = this.options.deviceRegistration.jwt;
    if (!jwt) throw new GatehouseError('config.invalid', 'deviceRegistration.jwt { secret, issuer } is not configured');
    this.signing ??= { secret: createSecretKey(Buffer.from(jwt.secret, 'utf8')), issuer: jwt.issuer };
    return this.signing;
  }

  registrationUrl(): string {
    return `${this.options.issuer}/api/register-device`;
  }

  async createToken(input: NewDeviceToken, actor: string): Promise<{ row: DeviceTokenRow; token: string }> {
    const signing = this.jwtConfig();
    const now = this.clock.now();
    if (!Number.isInteger(input.maxDevices) || input.maxDevices < 0 || input.maxDevices > 2_147_483_647)
      throw new GatehouseError('input.invalid', '--max-devices must be 0 (no limit) or a positive whole number up to 2147483647');
    if ((input.description?.length ?? 0) > 500) throw new GatehouseError('input.invalid', '--description must be at most 500 characters');
    if (input.expiresAt <= now) throw new GatehouseError('input.invalid', '--expires must be in the future');
    if (input.clientTemplate && !this.options.clients.some((c) => c.client_id === input.clientTemplate)) {
      throw new GatehouseError('not_found', `--client-template: no static client with id ${input.clientTemplate} in the config`);
    }
    const row: DeviceTokenRow = {
      id: newId(),
      description: input.description ?? null,
      max_devices: input.maxDevices,
      uses: 0,
      client_template: input.clientTemplate ?? null,
      expires_at: input.expiresAt,
      revoked_at: null,
      created_by: actor,
      created_at: now,
    };
    const token = await signDeviceToken(row, signing, this.registrationUrl(), now);
    await withTransaction(this.db, async (trx) => {
      await insertDeviceToken(trx, row);
      await this.audit.record(trx, {
        actor,
        action: 'device_token.created',
        subject: row.id,
        details: { maxDevices: row.max_devices, expiresAt: row.expires_at, clientTemplate: row.client_template },
      });
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
    const jti = await verifyDeviceToken(input.token, this.jwtConfig(), this.clock.now());
    const row = await findDeviceToken(this.db, jti);
    if (!row) throw refuse('the device token is not known here');
    if (row.revoked_at !== null) throw refuse('the device token has been revoked');
    if (!(await this.allowList.allows(input.manufacturerId)))
      throw new GatehouseError('device.not_allowed', `manufacturer id ${input.manufacturerId} is not on the allow-list`);
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
      // On SQLite committed with the other writes of the moment (db/transaction.ts withWriteTransaction).
      await withWriteTransaction(this.db, async (trx) => {
        const now = this.clock.now();
        if (!(await takeDeviceTokenUse(trx, row.id, now))) {
          throw refuse(
            row.max_devices > 0
              ? `the device token has been used by the maximum number of devices (${row.max_devices})`
              : 'the device token can no longer be used',
          );
        }
        await insertRegisteredClient(trx, {
          client_id: clientId,
          registration_token_id: null,
          via: 'jwt',
          kind: 'device',
          disabled_reason: null,
          disabled_at: null,
          created_at: now,
          manufacturer_id: input.manufacturerId,
          device_token_id: row.id,
          last_token_at: null,
        });
        const metadata = {
          client_id: clientId,
          client_secret: clientSecret,
          client_name: `Device ${input.manufacturerId}`,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
          client_id_issued_at: Math.floor(now / 1000),
          client_secret_expires_at: 0,
          ...(typeof template?.scope === 'string' ? { scope: template.scope } : {}),
        };
        await upsertModel(trx, modelRow('Client', clientId, JSON.stringify(metadata)));
        await this.audit.record(trx, {
          actor,
          action: 'device.enrolled',
          subject: clientId,
          details: { manufacturerId: input.manufacturerId, deviceToken: row.id },
        });
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

  /** Start-up check: a configured allow-list file must be readable. */
  checkAllowList(): Promise<void> {
    return this.allowList.check();
  }
}
