/**
 * Security headers on every response: a strict Content-Security-Policy (no
 * scripts, styles only from us, no framing), nosniff, no referrer leaks.
 * Inline scripts are allowed only on oidc-provider's form_post response page,
 * which needs one to submit itself (its hash is what oidc-provider emits).
 */
import type { Context, Next } from 'koa';

const strict = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self' data: https:",
  "form-action 'self' http: https:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders() {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (!ctx.response.get('Content-Security-Policy')) {
      ctx.set('Content-Security-Policy', strict);
    } else {
      ctx.set('Content-Security-Policy', `${ctx.response.get('Content-Security-Policy')}; frame-ancestors 'none'`);
    }
  };
}
