/**
 * The console's devices section: registered client_credentials clients, each
 * with its manufacturer id (enrolled with a device token), the token it came
 * with, its state and when it last got a token; Revoke through the
 * confirmation page (its client is deleted, its tokens stop working). Through
 * the devices operations (../../ops/devices.ts) as the signed-in admin.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { listDevices, revokeDevice } from '../../ops/devices.ts';
import { adminOf, flashNotice, type ConsoleSection } from '../console.ts';
import { badge, when } from './registration-tokens.ts';

/** A revoked enrolled device keeps its record (so its manufacturer id cannot enroll again): it reads as revoked. */
const shownState = (state: string) => (state === 'disabled (revoked)' ? 'revoked' : state);

export const devicePages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const listUrl = `${base}/devices`;

  router.get('/devices', async (ctx) => {
    const list = await invoke(listDevices, ctxOf(ctx), {});
    page(ctx, 'devices', 'devices', {
      title: 'Devices',
      devices: list
        .map((d) => {
          const state = shownState(d.state);
          return { ...d, state, badge: badge(state), createdText: when(d.created), lastTokenText: when(d.lastToken, 'not yet') };
        })
        .reverse(),
    });
  });

  router.get('/devices/:id/revoke', async (ctx) => {
    const id = String(ctx.params.id);
    const found = (await invoke(listDevices, ctxOf(ctx), {})).find((d) => d.id === id);
    if (!found) return page(ctx, 'not-found', 'devices', {}, 404);
    const what = found.name ? `"${found.name}"` : found.manufacturerId ? `the device ${found.manufacturerId}` : 'this device';
    page(ctx, 'confirm', 'devices', {
      title: 'Revoke this device?',
      message: `${what.charAt(0).toUpperCase()}${what.slice(1)} loses its client: its tokens stop working at once${found.manufacturerId ? ', and its manufacturer id cannot enroll again' : ''}. This cannot be undone.`,
      action: `${listUrl}/${encodeURIComponent(id)}/revoke`,
      button: 'Revoke device',
      cancel: listUrl,
    });
  });

  router.post('/devices/:id/revoke', ...form, async (ctx) => {
    ctx.status = 303;
    try {
      await invoke(revokeDevice, ctxOf(ctx), { id: String(ctx.params.id) });
      flashNotice(ctx, 'The device is revoked: its tokens no longer work.');
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      flashNotice(ctx, err.message);
    }
    ctx.redirect(listUrl);
  });
};
