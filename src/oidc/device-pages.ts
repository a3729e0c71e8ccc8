/**
 * The pages a person sees in the device authorization grant (RFC 8628), as
 * oidc-provider's `features.deviceFlow` sources: the code page (with what went
 * wrong, in plain words), the confirmation page and the success page.
 *
 * A code that cannot be used says which state it is in (not found, expired,
 * declined, already connected), and a code the person confirmed but whose
 * sign-in was left unfinished leads back to finishing it. A failure the person
 * did not cause is named, to them and to the polling device.
 */
import type { Configuration, KoaContextWithOIDC, Provider } from 'oidc-provider';
import { plainError } from './error-pages.ts';
import { formParts, normalizeUserCode, reopenDeviceCode } from './internals.ts';
import type { RenderPage } from './provider.ts';

type DeviceFlow = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;
type DeviceCode = InstanceType<Provider['DeviceCode']>;

/** The code as the device shows it (mask `****-****`). */
const denormalize = (code: string) => (code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code);

const startAgain = 'Start again on your device to get a new code.';

/** What a failure without an OAuth description was about, in plain words (oidc-provider gives only a detail). */
function failureWords(detail: string | undefined): string {
  if (detail && /no scope was granted/.test(detail)) return 'the device asked for nothing that can be granted (no scope)';
  if (detail && /no account id/.test(detail)) return 'no account was signed in';
  return 'the sign-in could not be completed';
}

interface Denial {
  /** The person said no: Cancel (confirmation page, gate page) or Deny (consent page). */
  byPerson?: 'cancelled' | 'declined';
  description: string;
}

/**
 * Why an aborted device sign-in ended. oidc-provider reports both the person's
 * own "no" and its own refusals as `AbortedError`: the person's carries the
 * description given to `interactionFinished` (or no cause at all when Cancel
 * was pressed on the confirmation page); oidc-provider's has only a detail.
 */
function denialOf(err: Error): Denial {
  const cause = (err as { cause?: { error_description?: unknown; error_detail?: unknown } }).cause;
  if (!cause) return { byPerson: 'cancelled', description: 'The person cancelled the sign-in on the confirmation page.' };
  const given = cause.error_description;
  if (typeof given === 'string' && given) return { byPerson: /declined/.test(given) ? 'declined' : 'cancelled', description: given };
  const words = failureWords(typeof cause.error_detail === 'string' ? cause.error_detail : undefined);
  return { description: `${words.charAt(0).toUpperCase()}${words.slice(1)}.` };
}

async function codeOf(ctx: KoaContextWithOIDC, userCode: unknown): Promise<DeviceCode | undefined> {
  const { DeviceCode } = ctx.oidc.provider;
  if (typeof userCode === 'string' && userCode) return DeviceCode.findByUserCode(normalizeUserCode(userCode), { ignoreExpiration: true });
  if (ctx.oidc.entities.DeviceCode) return ctx.oidc.entities.DeviceCode;
  const jti = ctx.oidc.entities.Interaction?.deviceCode;
  return jti ? DeviceCode.find(jti, { ignoreExpiration: true }) : undefined;
}

export function deviceFlowPages(render: RenderPage): Pick<DeviceFlow, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'> {
  const input = (
    ctx: KoaContextWithOIDC,
    form: string,
    status: number,
    vars: { error?: string; notice?: string; typed?: string | undefined; code?: string | undefined },
  ) => render(ctx, 'device-input', { ...formParts(form), ...vars }, status);

  const confirm = async (ctx: KoaContextWithOIDC, form: string, code: DeviceCode, notice?: string) => {
    const client = code.clientId ? await ctx.oidc.provider.Client.find(code.clientId) : undefined;
    render(ctx, 'device-confirm', {
      ...formParts(form),
      userCode: denormalize(code.userCode),
      clientName: client?.clientName ?? client?.clientId ?? code.clientId,
      deviceInfo: code.deviceInfo,
      notice,
    });
  };

  /** A code that exists but cannot be confirmed now: say which state it is in. */
  const usedCode = async (ctx: KoaContextWithOIDC, form: string, typed: string | undefined) => {
    const code = await codeOf(ctx, typed);
    if (!code) return input(ctx, form, 400, { error: `That code can no longer be used. ${startAgain}`, code: 'code_used' });
    if (code.accountId && !code.error) {
      return input(ctx, form, 400, {
        error: 'That code has already been used: the device is connected. There is nothing more to do here.',
        code: 'code_approved',
      });
    }
    if (code.error === 'access_denied') {
      return input(ctx, form, 400, { error: `That code was declined, so the device was not connected. ${startAgain}`, code: 'code_denied' });
    }
    if (code.error) {
      return input(ctx, form, 400, { error: `That code can no longer be used: ${plainError(code.error).message} ${startAgain}`, code: code.error });
    }
    // Confirmed, sign-in not finished (the person left the sign-in page). The code goes back to
    // "typed, not confirmed" so that confirming again starts a new sign-in. The first one, if its
    // page is still open, may still finish: whichever finishes first connects the device, once.
    await reopenDeviceCode(code);
    return confirm(ctx, form, code, 'You already confirmed this code, but the sign-in was not finished. Continue to finish signing in.');
  };

  return {
    userCodeInputSource: async (ctx, form, out, err) => {
      const mistyped = (err as { userCode?: unknown } | undefined)?.userCode;
      const typed = typeof mistyped === 'string' ? mistyped : undefined;
      if (!err) return input(ctx, form, 200, {});
      switch (err.name) {
        case 'NoCodeError':
          return input(ctx, form, 400, { error: 'Type the code shown on your device.' });
        case 'NotFoundError':
          return input(ctx, form, 400, { error: 'That code is not right. Check the code on your device and try again.', typed, code: 'code_not_found' });
        case 'ExpiredError':
          return input(ctx, form, 400, { error: `That code has expired. ${startAgain}`, code: 'code_expired' });
        case 'AlreadyUsedError':
          return usedCode(ctx, form, typed);
        case 'AbortedError': {
          const denial = denialOf(err);
          if (denial.byPerson) {
            const what = denial.byPerson === 'declined' ? 'You declined the request' : 'You cancelled the sign-in';
            return input(ctx, form, 200, {
              notice: `${what}, so the device was not connected. To connect it after all, ${startAgain.charAt(0).toLowerCase()}${startAgain.slice(1)}`,
              code: 'access_denied',
            });
          }
          // oidc-provider stored the refusal on the device code without a description: give the device one.
          const code = await codeOf(ctx, undefined);
          if (code?.error && !code.errorDescription) {
            code.errorDescription = denial.description;
            await code.save();
          }
          return input(ctx, form, 400, { error: `The device was not connected: ${denial.description} ${startAgain}`, code: 'access_denied' });
        }
        case 'InvalidRequest':
          // A form that is not the one this session was given (stale or forged xsrf, a repeated field, a body it cannot read).
          return input(ctx, form, 403, { error: 'This page had expired. Type the code shown on your device again.', code: out?.error });
        default: {
          const words = plainError(out?.error ?? 'server_error');
          const status = ctx.status >= 400 ? ctx.status : 400;
          return input(ctx, form, status, { error: `${words.title}. ${words.message}`, code: out?.error });
        }
      }
    },
    userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
      render(ctx, 'device-confirm', {
        ...formParts(form),
        userCode,
        clientName: client.clientName ?? client.clientId,
        deviceInfo,
      });
    },
    successSource: async (ctx) => {
      render(ctx, 'device-success', { clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId });
    },
  };
}
