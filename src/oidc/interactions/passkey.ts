/**
 * Passkeys in a sign-in (issue 15), two steps each from views/static/passkeys.js:
 *
 * - the `login` prompt, without a password: POST /interaction/:uid/passkey/options
 *   answers discoverable-credential options (no allowCredentials; offered in
 *   the e-mail field's autofill where the browser can), POST /interaction/:uid/passkey
 *   verifies the answer and ends the prompt as a login of the passkey's
 *   owner: `amr` `hwk` (device-bound) or `swk` (synced), plus `user` when the
 *   authenticator verified the person; then `acr` is `urn:gatehouse:mfa` (the
 *   passkey alone is two factors), else the password's. The gate (the `access`
 *   prompt) still comes next.
 * - the `mfa` prompt, a passkey as the second factor: …/mfa/passkey/options
 *   (only the person's own passkeys) and …/mfa/passkey, ending through `finishMfa`;
 *   or, for someone who must set one up, a new passkey: …/mfa/passkey/register/options
 *   and …/mfa/passkey/register (made, stored, and counted as given).
 *
 * The challenge of each is tied to the interaction (its uid) and used once.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { mfaAcr, pwdAcr } from '../../identity/mfa/factors.ts';
import { authenticationOptions, finishAuthentication, finishRegistration, registrationOptions, type PasskeyDeps } from '../../identity/mfa/passkeys.ts';
import { loadInteraction, type Interaction, type InteractionDeps } from './context.ts';
import { showLogin } from './login.ts';
import { finishMfa, showMfa } from './mfa.ts';

const field = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

const notNow = () => new GatehouseError('input.invalid', 'This sign-in step is not expected now. Go back to the application and start again.');

async function step(deps: InteractionDeps, ctx: Context, prompt: 'login' | 'mfa'): Promise<Interaction> {
  const details = await loadInteraction(deps, ctx);
  if (details.prompt.name !== prompt || (prompt === 'mfa' && !details.session?.accountId)) throw notNow();
  return details;
}

/** Options answered as JSON; a refusal as `{ error }` with its status. */
async function answerOptions(deps: InteractionDeps, ctx: Context, work: () => Promise<unknown>): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  try {
    ctx.body = await work();
  } catch (err) {
    if (!isGatehouseError(err) || deps.statuses[err.code] >= 500) throw err;
    ctx.status = deps.statuses[err.code];
    ctx.body = { error: err.message };
  }
}

export function passkeyInteractionRoutes(deps: InteractionDeps, passkeys: PasskeyDeps, form: Middleware[]): Router {
  const router = new Router();

  router.post('/interaction/:uid/passkey/options', ...form, async (ctx) =>
    answerOptions(deps, ctx, async () => authenticationOptions(passkeys, { context: (await step(deps, ctx, 'login')).uid })),
  );

  router.post('/interaction/:uid/passkey', ...form, async (ctx) => {
    const details = await step(deps, ctx, 'login');
    try {
      const use = await finishAuthentication(passkeys, field(ctx, 'challenge'), field(ctx, 'response'), { context: details.uid });
      const known = await deps.users.find(use.userId);
      if (!known) throw new GatehouseError('input.invalid', 'This passkey belongs to no account any more.');
      const user = await deps.users.recordLogin(known);
      deps.metrics.logins.inc({ connector: 'passkey', result: 'success' });
      const acr = use.amr.includes('user') ? mfaAcr : pwdAcr;
      await deps.provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr: use.amr, acr } }, { mergeWithLastSubmission: false });
      ctx.respond = false;
    } catch (err) {
      const status = isGatehouseError(err) ? deps.statuses[err.code] : 500;
      if (!isGatehouseError(err) || status >= 500) throw err;
      deps.metrics.logins.inc({ connector: 'passkey', result: 'failure' });
      // The page comes back without the autofill offer: a refused passkey is not tried again by itself.
      await showLogin(deps, ctx, details, { error: err.message, passkeyFailed: true }, status);
    }
  });

  router.post('/interaction/:uid/mfa/passkey/options', ...form, async (ctx) =>
    answerOptions(deps, ctx, async () => {
      const details = await step(deps, ctx, 'mfa');
      return authenticationOptions(passkeys, { userId: details.session!.accountId, context: details.uid });
    }),
  );

  router.post('/interaction/:uid/mfa/passkey', ...form, async (ctx) => {
    const details = await step(deps, ctx, 'mfa');
    try {
      const use = await finishAuthentication(passkeys, field(ctx, 'challenge'), field(ctx, 'response'), {
        userId: details.session!.accountId,
        context: details.uid,
      });
      await finishMfa(deps, ctx, details, use.amr);
    } catch (err) {
      const status = isGatehouseError(err) ? deps.statuses[err.code] : 500;
      if (!isGatehouseError(err) || status >= 500) throw err;
      await showMfa(deps, ctx, details, { error: err.message }, status);
    }
  });

  // Setting up a passkey as the first second factor, where one is required (views/pages/mfa-enroll.njk).
  router.post('/interaction/:uid/mfa/passkey/register/options', ...form, async (ctx) =>
    answerOptions(deps, ctx, async () => {
      const details = await step(deps, ctx, 'mfa');
      const user = await deps.users.find(details.session!.accountId);
      if (!user) throw notNow();
      return registrationOptions(passkeys, { id: user.id, email: user.email, name: user.name }, field(ctx, 'name'));
    }),
  );

  router.post('/interaction/:uid/mfa/passkey/register', ...form, async (ctx) => {
    const details = await step(deps, ctx, 'mfa');
    const accountId = details.session!.accountId;
    try {
      const added = await finishRegistration(passkeys, accountId, field(ctx, 'challenge'), field(ctx, 'response'), `user:${accountId}`);
      await finishMfa(deps, ctx, details, added.amr);
    } catch (err) {
      const status = isGatehouseError(err) ? deps.statuses[err.code] : 500;
      if (!isGatehouseError(err) || status >= 500) throw err;
      await showMfa(deps, ctx, details, { passkeyError: err.message }, status);
    }
  });

  return router;
}
