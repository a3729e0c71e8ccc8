/**
 * CSRF protection for Gatehouse's own forms (oidc-provider guards its own with
 * its xsrf field): a random value in an HttpOnly SameSite cookie, echoed in a
 * hidden `_csrf` field, compared in constant time on every unsafe method.
 */
import type { Context, Next } from 'koa';
import { GatehouseError } from '../../errors.ts';
import { constantTimeEqual, randomSecret } from '../../lib/secrets.ts';

export const csrfCookie = 'gh.csrf';

export function csrf(secure: boolean, path: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    let token = ctx.cookies.get(csrfCookie);
    if (!token || token.length < 20) {
      token = randomSecret(24);
      ctx.cookies.set(csrfCookie, token, { httpOnly: true, sameSite: 'lax', secure, path, overwrite: true });
    }
    ctx.state.csrf = token;
    if (!['GET', 'HEAD', 'OPTIONS'].includes(ctx.method)) {
      const sent = (ctx.request.body as Record<string, unknown> | undefined)?._csrf;
      if (typeof sent !== 'string' || !constantTimeEqual(sent, token)) {
        throw new GatehouseError('csrf.invalid', 'This form has expired or was not sent from this site. Go back, reload the page and try again.');
      }
    }
    await next();
  };
}
