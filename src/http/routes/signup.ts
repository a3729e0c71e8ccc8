/**
 * Self sign-up for the local connector (`signup: true`): the form (`name`,
 * `email`, `password`), then a verification link by mail. Opening it shows a
 * confirmation page and changes nothing (mail scanners open links); only its
 * POST confirms the address and sends the person back to the sign-in they came from.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { LocalConnector } from '../../identity/connectors/local.ts';
import type { SlidingWindow } from '../../lib/throttle.ts';
import type { Page } from '../app.ts';
import { httpStatus } from '../middleware/errors.ts';

const safeReturn = (value: unknown, base: string): string | undefined =>
  typeof value === 'string' && value.startsWith(`${base}/interaction/`) && !value.includes('//', 1) ? value : undefined;

/** `perIp` counts sign-ups (`security.rateLimits.signup`, see middleware/rate-limit.ts). */
export function signupRoutes(local: LocalConnector | undefined, base: string, page: Page, form: Middleware[], perIp: SlidingWindow): Router {
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
    if (!perIp.hit(ctx.ip)) throw new GatehouseError('rate_limited', 'Too many sign-ups from your network. Try again later.');
    try {
      await connector.signUp(fields, returnTo);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid')) throw err;
      page(ctx, 'signup', { returnTo, error: err.message, email: fields.email, name: fields.name }, httpStatus[err.code]);
      return;
    }
    page(ctx, 'signup-sent', { email: fields.email.trim().toLowerCase() });
  });

  router.get('/verify-email/:token', ...form, async (ctx: Context) => {
    const token = String(ctx.params.token);
    const email = await open().viewVerification(token);
    page(ctx, 'verify-email', { email, token, returnTo: safeReturn(ctx.query.return_to, base) });
  });

  router.post('/verify-email/:token', ...form, async (ctx: Context) => {
    const email = await open().verifyEmail(String(ctx.params.token));
    page(ctx, 'email-verified', { email, returnTo: safeReturn((ctx.request.body as Record<string, unknown>).return_to, base) });
  });
  return router;
}
