/**
 * Security headers on every response: a strict Content-Security-Policy (no
 * inline scripts, styles only from us, no framing), nosniff, no referrer leaks.
 * The policy is set before the route runs because oidc-provider's self-submitting
 * pages (form_post, `verification_uri_complete`) add their one script's hash to
 * an existing `script-src` directive; Gatehouse's own pages have no scripts.
 */
import type { Context, Next } from 'koa';

const strict = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",
  "form-action 'self' http: https:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders() {
  return async (ctx: Context, next: Next): Promise<void> => {
    ctx.set('Content-Security-Policy', strict);
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (!ctx.response.get('Content-Security-Policy')) ctx.set('Content-Security-Policy', strict);
  };
}
