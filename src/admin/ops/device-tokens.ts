/** Device tokens (signed registration JWTs devices enroll with, SPEC 6.2): list, show, create (the JWT shown once), revoke. */
import { z } from 'zod';
import type { DeviceTokenRow } from '../../db/repos/device-tokens.ts';
import { deviceTokenState } from '../../devices/tokens.ts';
import { GatehouseError } from '../../errors.ts';
import { operation } from '../operation.ts';
import { expiryFrom, naming } from './registration-tokens.ts';
import { idParam, instant, iso } from './shapes.ts';

export const deviceToken = z.object({
  id: z.string().describe("the JWT's jti"),
  description: z.string().nullable(),
  maxDevices: z.number().int().describe('how many devices may enroll with it; 0 = no limit'),
  devices: z.number().int().describe('devices enrolled with it so far'),
  state: z.enum(['active', 'revoked', 'expired', 'used up']),
  clientTemplate: z.string().nullable().describe("a static client whose scope the devices' clients get"),
  expires: instant,
  revoked: instant,
  created: instant,
  createdBy: z.string(),
});

export function deviceTokenView(row: DeviceTokenRow, now: number): z.input<typeof deviceToken> {
  return {
    id: row.id,
    description: row.description,
    maxDevices: row.max_devices,
    devices: row.uses,
    state: deviceTokenState(row, now),
    clientTemplate: row.client_template,
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
    createdBy: row.created_by,
  };
}

const byId = z.object({ id: idParam });

export const listDeviceTokens = operation({
  name: 'deviceTokens.list',
  method: 'GET',
  path: '/device-tokens',
  tag: 'device tokens',
  summary: 'List device tokens with how many devices enrolled with each (never the JWT)',
  input: z.object({}),
  output: z.array(deviceToken),
  paginated: true,
  async run({ gh }) {
    const now = gh.clock.now();
    return (await gh.devices.listTokens()).map((r) => deviceTokenView(r, now));
  },
});

export const showDeviceToken = operation({
  name: 'deviceTokens.show',
  method: 'GET',
  path: '/device-tokens/:id',
  tag: 'device tokens',
  summary: 'One device token',
  input: byId,
  output: deviceToken,
  run: async ({ gh }, { id }) => deviceTokenView(await gh.devices.getToken(id), gh.clock.now()),
});

export const createDeviceToken = operation({
  name: 'deviceTokens.create',
  method: 'POST',
  path: '/device-tokens',
  tag: 'device tokens',
  summary:
    'Create a device token (a JWT signed with deviceRegistration.jwt, which the config must hold: 403 otherwise); the answer holds the JWT, shown only this once',
  input: z.object({
    expires: z.string().min(1).max(100).default('365d').describe('until when devices can enroll with it: 30s, 15m, 12h, 7d or an ISO date'),
    maxDevices: z.number().int().min(0).default(0).describe('how many devices may enroll with it (0 = no limit)'),
    clientTemplate: z.string().min(1).max(200).optional().describe("a static client whose scope the devices' clients get"),
    description: z.string().optional(),
  }),
  output: deviceToken.extend({ token: z.string().describe('the JWT, shown only now'), registrationUrl: z.string() }),
  status: 201,
  async run({ gh, actor }, input) {
    if (!gh.config.deviceRegistration.jwt) {
      throw new GatehouseError('forbidden', 'This server cannot sign device tokens: set deviceRegistration.jwt { secret, issuer } in its config first.');
    }
    const expiresAt = await expiryFrom(gh, input.expires);
    const made = await naming(() =>
      gh.devices.createToken(
        { expiresAt, maxDevices: input.maxDevices, clientTemplate: input.clientTemplate ?? null, description: input.description || null },
        actor,
      ),
    );
    return { ...deviceTokenView(made.row, gh.clock.now()), token: made.token, registrationUrl: gh.devices.registrationUrl() };
  },
});

export const revokeDeviceToken = operation({
  name: 'deviceTokens.revoke',
  method: 'POST',
  path: '/device-tokens/:id/revoke',
  tag: 'device tokens',
  summary: 'Revoke a device token: no more devices can enroll with it (enrolled ones keep working)',
  input: byId,
  output: deviceToken,
  run: async ({ gh, actor }, { id }) => deviceTokenView(await gh.devices.revokeToken(id, actor), gh.clock.now()),
});

export const deviceTokenOps = [listDeviceTokens, showDeviceToken, createDeviceToken, revokeDeviceToken];
