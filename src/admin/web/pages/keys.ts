/**
 * The console's signing keys section: the published keys with their state
 * (active: signs new tokens; retired: published only, so what it signed still
 * verifies, until that has expired), a Rotate button and a Revoke link per key
 * (both through the confirmation page; an algorithm's last active key is
 * refused: rotate first). Through the keys operations (../../ops/keys.ts) as
 * the signed-in admin; running servers follow within the key refresh interval.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { keyRefreshIntervalMs } from '../../../oidc/key-refresh.ts';
import { invoke } from '../../operation.ts';
import { listKeys, revokeKey, rotateKeys } from '../../ops/keys.ts';
import { adminOf, flashNotice, type ConsoleSection } from '../console.ts';
import { when } from './registration-tokens.ts';

const followWithin = `Running servers follow within ${keyRefreshIntervalMs / 1000} seconds, without a restart.`;

export const keyPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const listUrl = `${base}/keys`;

  const showList = async (ctx: Context, error?: string, status = 200) => {
    const keys = await invoke(listKeys, ctxOf(ctx), {});
    page(
      ctx,
      'keys',
      'keys',
      {
        title: 'Signing keys',
        followWithin,
        keys: keys.map((k) => ({
          ...k,
          stateText: k.state === 'active' ? 'active (signs)' : 'retired (published only)',
          badge: k.state === 'active' ? 'badge-active' : 'badge-expired',
          createdText: when(k.createdAt),
          retiredText: when(k.retiredAt, ''),
        })),
        ...(error ? { error } : {}),
      },
      status,
    );
  };

  router.get('/keys', async (ctx) => {
    await showList(ctx);
  });

  router.get('/keys/rotate', (ctx) => {
    page(ctx, 'confirm', 'keys', {
      title: 'Rotate the signing keys?',
      message: `A new key is made for each algorithm and signs from now on. The current keys stop signing but stay published until every token they signed has expired, so nobody is signed out. ${followWithin}`,
      action: `${listUrl}/rotate`,
      button: 'Rotate keys',
      cancel: listUrl,
    });
  });

  router.post('/keys/rotate', ...form, async (ctx) => {
    const made = await invoke(rotateKeys, ctxOf(ctx), {});
    flashNotice(ctx, `New signing keys: ${made.map((k) => `${k.alg} ${k.kid}`).join(', ')}. ${followWithin}`);
    ctx.status = 303;
    ctx.redirect(listUrl);
  });

  router.get('/keys/:kid/revoke', async (ctx) => {
    const kid = String(ctx.params.kid);
    const found = (await invoke(listKeys, ctxOf(ctx), {})).find((k) => k.kid === kid);
    if (!found) return page(ctx, 'not-found', 'keys', {}, 404);
    page(ctx, 'confirm', 'keys', {
      title: 'Revoke this signing key?',
      message: `The ${found.alg} key ${kid} leaves the published keys now: every token it signed stops verifying, and people and devices holding one must sign in or fetch a token again. Do this for a key that leaked. ${followWithin}`,
      action: `${listUrl}/${encodeURIComponent(kid)}/revoke`,
      button: 'Revoke key',
      cancel: listUrl,
    });
  });

  router.post('/keys/:kid/revoke', ...form, async (ctx) => {
    try {
      const revoked = await invoke(revokeKey, ctxOf(ctx), { kid: String(ctx.params.kid) });
      flashNotice(ctx, `The ${revoked.alg} key ${revoked.kid} is revoked. ${followWithin}`);
    } catch (err) {
      if (isGatehouseError(err, 'signing_key.last_active')) return showList(ctx, err.message, 409);
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      flashNotice(ctx, err.message);
    }
    ctx.status = 303;
    ctx.redirect(listUrl);
  });
};
