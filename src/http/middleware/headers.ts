/**
 * Security headers on every response, error responses included: a strict
 * Content-Security-Policy (no inline scripts, styles only from us, no framing),
 * nosniff, no referrer leaks. The policy is set before the route runs because
 * oidc-provider's self-submitting pages (form_post, `verification_uri_complete`)
 * add their one script's hash to an existing `script-src` directive; Gatehouse's
 * own pages have no scripts. The rest is set in a `finally`, so a thrown error
 * (answered by the error handler inside this middleware, or escaping it) never
 * leaves a response without them.
 *
 * A page meant to be framed (the Keycloak realm's session iframes) sets
 * `ctx.state.frameAncestors` to the origins that may frame it: its
 * `frame-ancestors` lists exactly those and it gets no `X-Frame-Options`
 * (which cannot express a list). Every other page is `frame-ancestors 'none'`.
 */
import type { Context, Next } from 'koa';

const noFraming = "frame-ancestors 'none'";

const strict = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",
  // Only our own scripts run (script-src 'self'); the session iframe's script asks its own origin.
  "connect-src 'self'",
  "form-action 'self' http: https:",
  noFraming,
  "base-uri 'none'",
].join('; ');

/** Set by a route: the only origins (or CSP sources) allowed to frame this response. */
export interface FramingState {
  frameAncestors?: string[];
}

export function securityHeaders() {
  return async (ctx: Context, next: Next): Promise<void> => {
    ctx.set('Content-Security-Policy', strict);
    try {
      await next();
    } finally {
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      const policy = ctx.response.get('Content-Security-Policy') || strict;
      const ancestors = (ctx.state as FramingState).frameAncestors;
      if (ancestors?.length) {
        ctx.remove('X-Frame-Options');
        ctx.set('Content-Security-Policy', policy.replace(noFraming, `frame-ancestors ${ancestors.join(' ')}`));
      } else {
        ctx.set('X-Frame-Options', 'DENY');
        ctx.set('Content-Security-Policy', policy.includes('frame-ancestors') ? policy : `${policy}; ${noFraming}`);
      }
    }
  };
}
