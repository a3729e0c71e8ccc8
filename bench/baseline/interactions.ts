/**
 * The baseline's minimal interaction routes, the same flow shape as
 * Gatehouse's (src/oidc/interactions/): GET shows a login or consent form with
 * a `_csrf` field (double-submit cookie), POST .../login checks the password
 * with argon2id against a precomputed hash, POST .../consent records a Grant.
 * Same paths and field names, so one browser simulation drives both servers.
 */
import { timingSafeEqual, randomBytes } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import argon2 from 'argon2';
import type { Context, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import { baselineAccountId } from './provider.ts';

const csrfCookie = 'csrf';

function page(ctx: Context, title: string, form: string, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1>${form}</body></html>`;
}

async function csrf(ctx: Context, next: Next): Promise<void> {
  let token = ctx.cookies.get(csrfCookie);
  if (!token) {
    token = randomBytes(24).toString('base64url');
    ctx.cookies.set(csrfCookie, token, { httpOnly: true, sameSite: 'lax', path: '/' });
  }
  ctx.state.csrf = token;
  if (ctx.method === 'POST') {
    const sent = (ctx.request.body as Record<string, unknown> | undefined)?._csrf;
    const a = Buffer.from(typeof sent === 'string' ? sent : '');
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) ctx.throw(403, 'bad csrf');
  }
  await next();
}

export function baselineInteractions(provider: Provider, email: string, passwordHash: string): Router {
  const router = new Router();
  const form = [bodyParser({ enableTypes: ['form'] }), csrf];
  const hidden = (ctx: Context) => `<input type="hidden" name="_csrf" value="${String(ctx.state.csrf)}">`;

  router.get('/interaction/:uid', ...form, async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      page(
        ctx,
        'Sign in',
        `<form method="post" action="/interaction/${details.uid}/login">${hidden(ctx)}` +
          '<input name="email"><input name="password" type="password"><button>Sign in</button></form>',
      );
    } else {
      page(
        ctx,
        'Allow access?',
        `<form method="post" action="/interaction/${details.uid}/consent">${hidden(ctx)}` + '<button name="decision" value="allow">Allow</button></form>',
      );
    }
  });

  router.post('/interaction/:uid/login', ...form, async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') ctx.throw(400, 'not a login step');
    const body = ctx.request.body as Record<string, unknown>;
    const ok = body.email === email && typeof body.password === 'string' && (await argon2.verify(passwordHash, body.password));
    if (!ok) return page(ctx, 'Sign in', `<p>wrong</p><form method="post">${hidden(ctx)}</form>`, 401);
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: baselineAccountId } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  });

  router.post('/interaction/:uid/consent', ...form, async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = details.session?.accountId;
    if (details.prompt.name !== 'consent' || !accountId) ctx.throw(400, 'not a consent step');
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    if (!grant) return page(ctx, 'Expired', '<p>grant expired</p>', 400);
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
  });
  return router;
}
