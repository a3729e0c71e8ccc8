/**
 * `POST /api/register-device` (SPEC 6.2): a device presents the signed
 * registration JWT its firmware carries and its manufacturer id, and gets its
 * own client credentials. JSON in, JSON out; every refusal is a 4xx with
 * `{ "error", "error_description" }` (see middleware/errors.ts).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { GatehouseError } from '../../errors.ts';
import { readJsonObjectBody } from '../../lib/json-body.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import { manufacturerIdPattern } from '../../devices/allow-list.ts';
import type { DeviceEnrollment } from '../../devices/enrollment.ts';

const bodyLimit = 16 * 1024;

async function readBody(ctx: Context): Promise<{ token: string; manufacturerId: string }> {
  const invalid = (why: string) => new GatehouseError('input.invalid', why);
  if (!ctx.is('application/json')) throw invalid('send the request as JSON (Content-Type: application/json)');
  const read = await readJsonObjectBody(ctx.req, bodyLimit, Number(ctx.get('content-length') || 0));
  if (!read.ok) {
    throw invalid(
      read.problem === 'too_large'
        ? `the request body is larger than ${bodyLimit} bytes`
        : read.problem === 'not_json'
          ? 'the request body is not valid JSON'
          : 'the request body must be a JSON object with "token" and "manufacturerId"',
    );
  }
  const { token, manufacturerId } = read.value;
  if (typeof token !== 'string' || token.length === 0) throw invalid('"token" is missing: send the registration JWT as a string');
  if (token.length > 4096) throw invalid('"token" is longer than 4096 characters');
  if (typeof manufacturerId !== 'string' || manufacturerId.length === 0)
    throw invalid('"manufacturerId" is missing: send the device\'s manufacturer id as a string');
  if (!manufacturerIdPattern.test(manufacturerId))
    throw invalid('"manufacturerId" must be 1 to 128 letters, digits, and . _ : - (starting with a letter or digit)');
  return { token, manufacturerId };
}

/**
 * Every outcome is audited: enrollments and token/id refusals by DeviceEnrollment,
 * malformed requests here (they count against the per-IP limit first, so they
 * cannot flood the log), and the first rate-limited request per address and window
 * (`firstRefusals`). Both windows come from middleware/rate-limit.ts.
 */
export function deviceRoutes(devices: DeviceEnrollment, perIp: Limiter, firstRefusals: Limiter): Router {
  const router = new Router();
  router.post('/api/register-device', async (ctx: Context) => {
    if (!(await perIp.hit(ctx.ip)).allowed) {
      const err = new GatehouseError('rate_limited', 'too many enrollment attempts from this address; wait a few minutes and try again');
      if ((await firstRefusals.hit(ctx.ip)).allowed) await devices.recordRefusal(ctx.ip, err);
      throw err;
    }
    let body: { token: string; manufacturerId: string };
    try {
      body = await readBody(ctx);
    } catch (err) {
      if (err instanceof GatehouseError) await devices.recordRefusal(ctx.ip, err);
      throw err;
    }
    const enrolled = await devices.enroll({ ...body, ip: ctx.ip });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = enrolled;
  });
  return router;
}
