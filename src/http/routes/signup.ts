/**
 * Self sign-up for the local connector (`signup: true`): the form (`name`,
 * `email`, `password`), then a verification link by mail. Opening it shows a
 * confirmation page and changes nothing (mail scanners open links); only its
 * POST confirms the address and sends the person back to the sign-in they came from,
 * the address filled in. A link whose address is confirmed already says so and
 * offers the sign-in; one that cannot confirm offers "send it again"
 * (POST /signup/resend, counted in the sign-up window per IP, the same answer
 * for every address).
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { LocalConnector } from '../../identity/connectors/local.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import type { Page } from '../app.ts';
import { httpStatus } from '../middleware/errors.ts';

/** A `return_to` that leads back to a sign-in under way at this issuer, or nothing. */
export const safeReturn = (value: unknown, base: string): string | undefined =>
  typeof value === 'string' && value.startsWith(`${base}/interaction/`) && !value.includes('//', 1) && value.length < 300 ? value : undefined;

/** The sign-in to go back to, with the address filled in (the login page reads `login_hint`). */
export const resumeLink = (returnTo: string | undefined, email: string): string | undefined =>
  returnTo ? `${returnTo}?login_hint=${encodeURIComponent(email)}` : undefined;

/** `perIp` counts sign-ups (`security.rateLimits.signup`, see middleware/rate-limit.ts). */
export function signupRoutes(local: LocalConnector | undefined, base: string, page: Page, form: Middleware[], perIp: Limiter): Router {
  const router = new Router();
  const open = () => {
    if (!local?.options.signup) throw new GatehouseError('signup.disabled', 'Sign-up is not open here. Ask an administrator for an invitation.');
    return local;
  };

  router.get('/signup', ...form, async (ctx: Context) => {
    open();
    page(ctx, 'signup', { returnTo: safeReturn(ctx.query.return_to, base) });
  });

  router.post('/signup', ...form, async (ctx: Context) => {
    const connector = open();
    const body = ctx.request.body as Record<string, unknown>;
    const fields = { email: String(body.email ?? ''), name: String(body.name ?? ''), password: String(body.password ?? '') };
    const returnTo = safeReturn(body.return_to, base);
    if (!(await perIp.hit(ctx.ip)).allowed) throw new GatehouseError('rate_limited', 'Too many sign-ups from your network. Try again later.');
    try {
      await connector.signUp(fields, returnTo);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'signup', { returnTo, error: err.message, email: fields.email, name: fields.name }, httpStatus[err.code]);
      return;
    }
    page(ctx, 'signup-sent', { email: fields.email.trim().toLowerCase(), returnTo });
  });

  // A link that cannot confirm: a plain page (status 400) with the "send it again" form, the address filled in when known.
  const spent = (ctx: Context, err: GatehouseError, returnTo: string | undefined) =>
    page(
      ctx,
      'verify-email',
      { invalid: err.message, email: typeof err.details?.email === 'string' ? err.details.email : '', returnTo },
      httpStatus['verification.invalid'],
    );

  router.get('/verify-email/:token', ...form, async (ctx: Context) => {
    const token = String(ctx.params.token);
    const returnTo = safeReturn(ctx.query.return_to, base);
    try {
      const state = await open().viewVerification(token);
      if (state.alreadyConfirmed) page(ctx, 'email-verified', { ...state, resume: resumeLink(returnTo, state.email) });
      else page(ctx, 'verify-email', { ...state, token, returnTo });
    } catch (err) {
      if (!isGatehouseError(err, 'verification.invalid')) throw err;
      spent(ctx, err, returnTo);
    }
  });

  router.post('/verify-email/:token', ...form, async (ctx: Context) => {
    const connector = open();
    const token = String(ctx.params.token);
    const body = ctx.request.body as Record<string, unknown>;
    const returnTo = safeReturn(body.return_to, base);
    try {
      const state = await connector.verifyEmail(token, typeof body.password === 'string' ? body.password : undefined);
      page(ctx, 'email-verified', { ...state, resume: resumeLink(returnTo, state.email) });
    } catch (err) {
      if (isGatehouseError(err, 'input.invalid')) {
        const state = await connector.viewVerification(token);
        page(ctx, 'verify-email', { ...state, token, returnTo, error: err.message }, httpStatus[err.code]);
        return;
      }
      if (!isGatehouseError(err, 'verification.invalid')) throw err;
      spent(ctx, err, returnTo);
    }
  });

  // "Send it again" (the check-your-mail page, a link that no longer works): the same answer for every address.
  router.post('/signup/resend', ...form, async (ctx: Context) => {
    const connector = open();
    const body = ctx.request.body as Record<string, unknown>;
    const email = String(body.email ?? '');
    const returnTo = safeReturn(body.return_to, base);
    if (!(await perIp.hit(ctx.ip)).allowed) throw new GatehouseError('rate_limited', 'Too many requests from your network. Try again later.');
    try {
      await connector.resendVerification(email, returnTo);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'verify-email', { resendError: err.message, email, returnTo }, httpStatus[err.code]);
      return;
    }
    page(ctx, 'signup-sent', { email: email.trim().toLowerCase(), returnTo, resent: true });
  });
  return router;
}
