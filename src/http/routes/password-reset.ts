/**
 * "Forgot password?" for the local connector. GET /forgot-password is the
 * form; its POST mails a reset link and always answers the same page, known
 * address or not (per IP at most `security.rateLimits.passwordReset`, then
 * 429; per address a few an hour, then the same page and no mail). GET
 * /reset-password/<token> shows the new-password form and changes nothing
 * (mail scanners open links); only its POST sets the password. A link that no
 * longer works (used, expired) says so with status 410 and a way to ask again.
 * `return_to` (a sign-in under way) travels through all of it, so "back to
 * sign in" and "continue signing in" lead there, the address filled in.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { PasswordResets } from '../../identity/password-reset.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import type { Page } from '../app.ts';
import { httpStatus } from '../middleware/errors.ts';
import { resumeLink, safeReturn } from './signup.ts';

/** `resets` is undefined without a local connector: then these pages do not exist. */
export function passwordResetRoutes(resets: PasswordResets | undefined, base: string, page: Page, form: Middleware[], perIp: Limiter): Router {
  const router = new Router();
  const open = (): PasswordResets => {
    if (!resets) throw new GatehouseError('not_found', 'There is no page at this address. Check the link, or go back to the application and start again.');
    return resets;
  };
  const linkProblem = (ctx: Context, err: GatehouseError, returnTo: string | undefined) => page(ctx, 'reset-password', { problem: err.message, returnTo }, 410);

  router.get('/forgot-password', ...form, async (ctx: Context) => {
    open();
    const hint = typeof ctx.query.login_hint === 'string' ? ctx.query.login_hint.slice(0, 320) : '';
    page(ctx, 'forgot-password', { returnTo: safeReturn(ctx.query.return_to, base), email: hint });
  });

  router.post('/forgot-password', ...form, async (ctx: Context) => {
    const service = open();
    const body = ctx.request.body as Record<string, unknown>;
    const email = String(body.email ?? '').slice(0, 320);
    const returnTo = safeReturn(body.return_to, base);
    if (!(await perIp.hit(ctx.ip)).allowed)
      throw new GatehouseError('rate_limited', 'Too many reset requests from your network. Wait 15 minutes and try again.');
    try {
      await service.request(email, returnTo, { ip: ctx.ip });
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'forgot-password', { returnTo, email, error: err.message }, httpStatus[err.code]);
      return;
    }
    page(ctx, 'forgot-password-sent', { email: email.trim().toLowerCase(), returnTo });
  });

  router.get('/reset-password/:token', ...form, async (ctx: Context) => {
    const token = String(ctx.params.token);
    const returnTo = safeReturn(ctx.query.return_to, base);
    try {
      page(ctx, 'reset-password', { email: await open().view(token), token, returnTo });
    } catch (err) {
      if (!isGatehouseError(err, 'verification.invalid')) throw err;
      linkProblem(ctx, err, returnTo);
    }
  });

  router.post('/reset-password/:token', ...form, async (ctx: Context) => {
    const service = open();
    const token = String(ctx.params.token);
    const body = ctx.request.body as Record<string, unknown>;
    const returnTo = safeReturn(body.return_to, base);
    try {
      const email = await service.reset(token, String(body.password ?? ''), String(body.again ?? ''));
      page(ctx, 'reset-password-done', { email, resume: resumeLink(returnTo, email) });
    } catch (err) {
      if (isGatehouseError(err, 'verification.invalid')) return linkProblem(ctx, err, returnTo);
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'reset-password', { email: await service.view(token), token, returnTo, error: err.message }, httpStatus[err.code]);
    }
  });
  return router;
}
