/**
 * Interaction routes, a table of which step answers which path. GET shows the
 * page for the current prompt; each POST ends one prompt.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { GatehouseError } from '../../errors.ts';
import { loadInteraction, type InteractionDeps } from './context.ts';
import { postConsent, showConsent } from './consent.ts';
import { linkNotice, postLogin, showLogin } from './login.ts';
import { postJoin, postToken, showAccess, showGate, showJoin } from './gate.ts';
import { postEnroll, postMfa, postRecovery, showMfa, showRecovery } from './mfa.ts';
import { finishUpstream, startUpstream, upstreamCallback } from './upstream.ts';

export type { InteractionDeps } from './context.ts';

export function interactionRoutes(deps: InteractionDeps, form: Middleware[]): Router {
  const router = new Router();
  const bind = (handler: (deps: InteractionDeps, ctx: Context) => Promise<void>) => (ctx: Context) => handler(deps, ctx);

  router.get('/interaction/:uid', ...form, async (ctx) => {
    const details = await loadInteraction(deps, ctx);
    if (details.prompt.name === 'login') {
      const held = await deps.gate.held(details.uid);
      if (held && (await deps.users.linkCandidate(held))) return showLogin(deps, ctx, details, { link: linkNotice(deps, held) });
      return held ? showGate(deps, ctx, details, { identity: held }) : showLogin(deps, ctx, details);
    }
    if (details.prompt.name === 'mfa') return showMfa(deps, ctx, details);
    if (details.prompt.name === 'access') return showAccess(deps, ctx, details);
    if (details.prompt.name === 'consent') return showConsent(deps, ctx, details);
    throw new GatehouseError('input.invalid', `Unexpected sign-in step "${details.prompt.name}".`);
  });
  router.post('/interaction/:uid/login', ...form, bind(postLogin));
  router.post('/interaction/:uid/consent', ...form, bind(postConsent));
  // The second factor (./mfa.ts): a code, a recovery code, or the first code of a new TOTP factor.
  router.post('/interaction/:uid/mfa', ...form, bind(postMfa));
  router.get('/interaction/:uid/mfa/recovery', ...form, bind(showRecovery));
  router.post('/interaction/:uid/mfa/recovery', ...form, bind(postRecovery));
  router.post('/interaction/:uid/mfa/enroll', ...form, bind(postEnroll));
  router.post('/interaction/:uid/token', ...form, bind(postToken));
  router.get('/interaction/:uid/join', ...form, bind(showJoin));
  router.post('/interaction/:uid/join', ...form, bind(postJoin));
  router.get('/interaction/:uid/abort', async (ctx) => {
    await loadInteraction(deps, ctx);
    await deps.provider.interactionFinished(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in.' },
      { mergeWithLastSubmission: false },
    );
    ctx.respond = false;
  });
  router.get('/interaction/:uid/connector/:connector', bind(startUpstream));
  // Pages may be rendered here (linking, the gate), so the CSRF token is prepared too.
  router.get('/interaction/:uid/connector/:connector/done', ...form, bind(finishUpstream));
  router.get('/connectors/:connector/callback', bind(upstreamCallback));
  return router;
}
