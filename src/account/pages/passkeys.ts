/**
 * Passkeys on the Security page (issue 15): GET /account/security/passkeys
 * lists the person's passkeys (name, added, last used) with "Add a passkey"
 * and "Remove"; the Security page shows the same part (views/account/passkeys.njk)
 * when it is given `passkeyView`'s values. Adding is two POSTs from
 * views/static/passkeys.js: `…/passkeys/options` answers JSON (the
 * registration options; a challenge kept for 5 minutes), then the form is
 * sent with the browser's answer to `…/passkeys`, verified and stored.
 * Removing asks first (views/account/confirm.njk) and goes through `gh.mfa.removeFactor`. Every POST carries the CSRF value.
 */
import type { Context } from 'koa';
import type { Gatehouse } from '../../context.ts';
import { isGatehouseError } from '../../errors.ts';
import { finishRegistration, passkeyOf, passkeysOf, registrationOptions, relyingPartyOf, type PasskeyDeps } from '../../identity/mfa/passkeys.ts';
import { dateText, flashNotice, personOf, type SiteSection } from '../site.ts';

const passkeysPath = '/account/security/passkeys';

const field = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/** The issuer's path (`''` at the root). */
const baseOf = (gh: Gatehouse): string => new URL(gh.config.issuer).pathname.replace(/\/$/, '');

export function passkeyDeps(gh: Gatehouse): PasskeyDeps {
  return {
    db: gh.db,
    clock: gh.clock,
    audit: gh.audit,
    rp: relyingPartyOf(gh.config.issuer, gh.config.security.webauthn.userVerification, gh.config.branding.name),
  };
}

/** What views/account/passkeys.njk shows: the person's passkeys. */
export async function passkeyView(gh: Gatehouse, userId: string): Promise<{ passkeys: Record<string, unknown>[] }> {
  return {
    passkeys: (await passkeysOf(gh.db, userId)).map((p) => ({
      id: p.id,
      name: p.name,
      synced: p.device_type === 'multiDevice' || p.backed_up,
      created: dateText(p.created_at),
      createdIso: new Date(p.created_at).toISOString(),
      lastUsed: dateText(p.last_used_at),
      lastUsedIso: p.last_used_at === null ? null : new Date(p.last_used_at).toISOString(),
    })),
  };
}

export const passkeyPages: SiteSection = (router, { gh, page, form }) => {
  const deps = passkeyDeps(gh);
  const show = async (ctx: Context, extra: Record<string, unknown> = {}, status = 200) =>
    page(ctx, 'passkeys-page', 'security', { title: 'Passkeys', ...(await passkeyView(gh, personOf(ctx).userId)), ...extra }, status);

  router.get(passkeysPath, async (ctx) => show(ctx));

  router.post(`${passkeysPath}/options`, ...form, async (ctx) => {
    const person = personOf(ctx);
    ctx.set('Cache-Control', 'no-store');
    try {
      ctx.body = await registrationOptions(deps, { id: person.userId, email: person.email, name: person.name }, field(ctx, 'name'));
    } catch (err) {
      if (!isGatehouseError(err) || err.code !== 'input.invalid') throw err;
      ctx.status = 400;
      ctx.body = { error: err.message };
    }
  });

  router.post(passkeysPath, ...form, async (ctx) => {
    const person = personOf(ctx);
    try {
      const added = await finishRegistration(deps, person.userId, field(ctx, 'challenge'), field(ctx, 'response'), person.actor);
      flashNotice(ctx, `Passkey "${added.name}" added. You can sign in with it now.`);
    } catch (err) {
      if (isGatehouseError(err) && (err.code === 'input.invalid' || err.code === 'already_exists')) {
        return show(
          ctx,
          { passkeyError: err.code === 'already_exists' ? 'This passkey is registered already.' : err.message, passkeyName: field(ctx, 'name') },
          400,
        );
      }
      throw err;
    }
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}/account/security`);
  });

  router.get(`${passkeysPath}/remove`, async (ctx) => {
    const person = personOf(ctx);
    const passkey = await passkeyOf(gh.db, person.userId, typeof ctx.query.id === 'string' ? ctx.query.id : '');
    page(ctx, 'confirm', 'security', {
      title: `Remove the passkey "${passkey.name}"?`,
      message: `You will no longer be able to sign in with "${passkey.name}". Remove it from the device or password manager too.`,
      action: `${baseOf(gh)}${passkeysPath}/remove`,
      fields: { id: passkey.id },
      button: 'Remove',
      cancel: `${baseOf(gh)}/account/security`,
    });
  });

  router.post(`${passkeysPath}/remove`, ...form, async (ctx) => {
    const person = personOf(ctx);
    // Through the second-factor service: the last factor takes the recovery codes with it (identity/mfa/README.md).
    const passkey = await passkeyOf(gh.db, person.userId, field(ctx, 'id'));
    await gh.mfa.removeFactor(person.userId, passkey.id, person.actor);
    flashNotice(ctx, 'The passkey was removed.');
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}/account/security`);
  });
};
