/**
 * The console's device tokens section (signed registration JWTs devices
 * enroll with at POST /api/register-device): the list, newest first, with
 * state badges and devices so far ("2 of 5 devices"); the create form (expiry
 * presets or a date, how many devices, a static client as template, a
 * description), whose answer shows the JWT once with a copy button; Revoke
 * through the confirmation page. Without deviceRegistration.jwt in the config
 * the page says so and offers no form. Every change goes through the device
 * token operations (../../ops/device-tokens.ts) as the signed-in admin.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { createDeviceToken, listDeviceTokens, revokeDeviceToken, showDeviceToken } from '../../ops/device-tokens.ts';
import { adminOf, flashNotice, type ConsoleSection } from '../console.ts';
import { badge, one, refusal, when } from './registration-tokens.ts';

const expiryPresets = [
  { value: '30d', label: '1 month' },
  { value: '90d', label: '3 months' },
  { value: '365d', label: '1 year' },
] as const;

const fieldLabels: Record<string, string> = {
  expires: 'Expires',
  maxDevices: 'Number of devices',
  clientTemplate: 'Client template',
  description: 'Description',
};

interface FormValues {
  expires: string;
  expiresDate: string;
  maxDevices: string;
  clientTemplate: string;
  description: string;
}

const emptyForm: FormValues = { expires: '365d', expiresDate: '', maxDevices: '0', clientTemplate: '', description: '' };

/** "2 of 5 devices", or "2 devices (no limit)". */
const devicesText = (devices: number, max: number) =>
  max === 0 ? `${devices} ${devices === 1 ? 'device' : 'devices'} (no limit)` : `${devices} of ${max} devices`;

export const deviceTokenPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const listUrl = `${base}/device-tokens`;
  const canSign = () => gh.config.deviceRegistration.jwt !== undefined;
  const templates = async () => (await gh.clients.list()).filter((c) => c.source === 'static').map((c) => ({ id: c.clientId, name: c.name ?? c.clientId }));

  const showForm = async (ctx: Context, values: FormValues, error?: { message: string; field?: string }, status = 400) => {
    page(
      ctx,
      'device-token-new',
      'device-tokens',
      {
        title: 'New device token',
        values,
        expiryPresets,
        templates: await templates(),
        canSign: canSign(),
        enrollmentEnabled: gh.config.deviceRegistration.enabled,
        ...(error ? { error } : {}),
      },
      error ? status : 200,
    );
  };

  router.get('/device-tokens', async (ctx) => {
    const list = await invoke(listDeviceTokens, ctxOf(ctx), {});
    page(ctx, 'device-tokens', 'device-tokens', {
      title: 'Device tokens',
      canSign: canSign(),
      enrollmentEnabled: gh.config.deviceRegistration.enabled,
      tokens: list
        .map((t) => ({
          ...t,
          badge: badge(t.state),
          devicesText: devicesText(t.devices, t.maxDevices),
          expiresText: when(t.expires),
          createdText: when(t.created),
        }))
        .reverse(),
    });
  });

  router.get('/device-tokens/new', async (ctx) => {
    await showForm(ctx, emptyForm);
  });

  router.post('/device-tokens', ...form, async (ctx) => {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const values: FormValues = {
      expires: one(body.expires) || '365d',
      expiresDate: one(body.expiresDate),
      maxDevices: one(body.maxDevices),
      clientTemplate: one(body.clientTemplate),
      description: one(body.description),
    };
    if (values.expires === 'custom' && !values.expiresDate) return showForm(ctx, values, { message: 'Expires: choose a date', field: 'expires' });
    const input = {
      expires: values.expires === 'custom' ? values.expiresDate : values.expires,
      maxDevices: /^\d+$/.test(values.maxDevices) ? Number(values.maxDevices) : values.maxDevices || undefined,
      clientTemplate: values.clientTemplate || undefined,
      description: values.description || undefined,
    };
    let made;
    try {
      made = await invoke(createDeviceToken, ctxOf(ctx), input);
    } catch (err) {
      if (isGatehouseError(err, 'forbidden')) return showForm(ctx, values, { message: err.message }, 403);
      if (!isGatehouseError(err, 'input.invalid') && !isGatehouseError(err, 'not_found')) throw err;
      return showForm(ctx, values, refusal(err, fieldLabels));
    }
    // The JWT is shown here only, rendered directly (no redirect): nothing shows it again.
    page(ctx, 'device-token-created', 'device-tokens', {
      title: 'Device token created',
      token: { ...made, badge: badge(made.state), devicesText: devicesText(made.devices, made.maxDevices), expiresText: when(made.expires) },
      secret: made.token,
      enrollmentEnabled: gh.config.deviceRegistration.enabled,
    });
  });

  router.get('/device-tokens/:id/revoke', async (ctx) => {
    let found;
    try {
      found = await invoke(showDeviceToken, ctxOf(ctx), { id: String(ctx.params.id) });
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      return page(ctx, 'not-found', 'device-tokens', {}, 404);
    }
    const what = found.description ? `"${found.description}"` : 'this device token';
    page(ctx, 'confirm', 'device-tokens', {
      title: 'Revoke this device token?',
      message: `No more devices can enroll with ${what}. The ${found.devices === 1 ? 'device' : `${found.devices} devices`} already enrolled with it keep working (revoke them on the Devices page). This cannot be undone.`,
      action: `${listUrl}/${encodeURIComponent(found.id)}/revoke`,
      button: 'Revoke device token',
      cancel: listUrl,
    });
  });

  router.post('/device-tokens/:id/revoke', ...form, async (ctx) => {
    ctx.status = 303;
    try {
      await invoke(revokeDeviceToken, ctxOf(ctx), { id: String(ctx.params.id) });
      flashNotice(ctx, 'The device token is revoked.');
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      flashNotice(ctx, err.message);
    }
    ctx.redirect(listUrl);
  });
};
