/**
 * One place decides what an error looks like to the outside. GatehouseErrors map
 * to a status by code (the table must cover every code, or this does not
 * compile); anything else is logged and answered with a plain 500. HTML for
 * browsers, JSON for everything else.
 */
import type { Context, Next } from 'koa';
import { GatehouseError, type GatehouseErrorCode } from '../../errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Views } from '../views.ts';

export const httpStatus = {
  'config.invalid': 500,
  'input.invalid': 400,
  not_found: 404,
  already_exists: 409,
  'auth.invalid_credentials': 401,
  'auth.email_not_verified': 403,
  'auth.user_disabled': 403,
  'auth.throttled': 429,
  'auth.unauthenticated': 401,
  'auth.upstream_failed': 502,
  'signup.disabled': 403,
  'verification.invalid': 400,
  'csrf.invalid': 403,
  rate_limited: 429,
  overloaded: 503,
  'database.unavailable': 503,
  forbidden: 403,
  'acl_token.not_found': 404,
  'acl_token.expired': 410,
  'acl_token.revoked': 410,
  'acl_token.exhausted': 409,
  'acl_token.wrong_client': 403,
  'access.token_required': 403,
  'join_request.already_decided': 409,
  'approval_link.invalid': 410,
  'registration.invalid_token': 401,
  'registration.invalid_client_metadata': 400,
  'registration.invalid_redirect_uri': 400,
  'device.invalid_token': 401,
  'device.duplicate': 409,
  'device.not_allowed': 403,
  'signing_key.last_active': 409,
  'agent.unreachable': 502,
  'agent.refused': 400,
  'agent.state_invalid': 400,
} satisfies Record<GatehouseErrorCode, number>;

/** Page titles for statuses a person meets often; every other error page is "Something is not right". */
const titles: Record<number, string> = { 404: 'Page not found', 429: 'Slow down', 503: 'Temporarily unavailable' };

export function wantsHtml(ctx: Context): boolean {
  return ctx.accepts('html', 'json') === 'html' && !ctx.path.includes('/api/');
}

export function errorHandler(views: Views, logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      // Nothing answered: a path neither issuer knows. Our own 404 page (or JSON), not Koa's bare text.
      if (ctx.status === 404 && ctx.body == null && ctx.respond !== false && !ctx.headerSent) {
        throw new GatehouseError('not_found', 'There is no page at this address. Check the link, or go back to the application and start again.');
      }
      // oidc-provider answers its own errors (503 `temporarily_unavailable` in a database outage): say when to come back.
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', '5');
    } catch (thrown) {
      // An oidc-provider error that stands for one of ours (see oidc/unavailable.ts) is answered as ours.
      const cause = (thrown as { cause?: unknown } | undefined)?.cause;
      const err = !(thrown instanceof GatehouseError) && cause instanceof GatehouseError ? cause : thrown;
      let status: number;
      // `server_error` is no GatehouseError: it stands for anything that is not ours, whose details stay in the log.
      let code: GatehouseErrorCode | 'server_error';
      let message: string;
      if (err instanceof GatehouseError) {
        status = httpStatus[err.code];
        code = err.code;
        message = err.message;
        // Ours, but the server's side (database down, overloaded): operators want to see it.
        if (status >= 500) logger.warn({ path: ctx.path, code, details: err.details }, err.message);
      } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { expose?: boolean }).expose) {
        // A request Koa or a body parser refused (malformed, too large): bad input, with the status it was given.
        status = (err as { status: number }).status;
        code = 'input.invalid';
        message = (err as Error).message;
      } else {
        logger.error({ err, path: ctx.path }, 'unhandled error');
        status = 500;
        code = 'server_error';
        message = 'Something went wrong on our side. Please try again later.';
      }
      ctx.status = status;
      if (status === 503) ctx.set('Retry-After', '5');
      if (wantsHtml(ctx)) {
        ctx.type = 'html';
        ctx.body = views.page('error', { title: titles[status] ?? 'Something is not right', message, code, csrf: ctx.state.csrf });
      } else {
        const field = err instanceof GatehouseError && typeof err.details?.field === 'string' ? err.details.field : undefined;
        ctx.body = field ? { error: code, error_description: message, field } : { error: code, error_description: message };
      }
    }
  };
}
