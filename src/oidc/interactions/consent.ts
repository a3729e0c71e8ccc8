/**
 * The `consent` prompt: shows what the application asks for; approving records
 * a Grant (remembered, so the next login skips this page), denying returns
 * `access_denied` to the application.
 */
import type { Context } from 'koa';
import { GatehouseError } from '../../errors.ts';
import { clientName, loadInteraction, type Interaction, type InteractionDeps } from './context.ts';

const scopeWords: Record<string, string> = {
  openid: 'Know who you are',
  email: 'See your e-mail address',
  profile: 'See your name',
  offline_access: 'Stay signed in while you are away',
};

export async function showConsent(deps: InteractionDeps, ctx: Context, details: Interaction): Promise<void> {
  const client = await deps.provider.Client.find(String(details.params.client_id));
  const missing = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
  // Asked again although everything was granted before (registered clients, consentRequired): show what is asked now.
  const asked = missing.length
    ? missing
    : String(details.params.scope ?? '')
        .split(' ')
        .filter(Boolean);
  deps.page(ctx, 'consent', {
    uid: details.uid,
    clientName: clientName(client),
    scopes: asked.map((s) => scopeWords[s] ?? s),
  });
}

export async function postConsent(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  if (details.prompt.name !== 'consent' || !details.session?.accountId) {
    throw new GatehouseError('input.invalid', 'This consent step is not expected now. Go back to the application and start again.');
  }
  const body = ctx.request.body as Record<string, unknown>;
  if (body.decision === 'deny') {
    await deps.provider.interactionFinished(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'The user declined the request.' },
      { mergeWithLastSubmission: true },
    );
    ctx.respond = false;
    return;
  }
  const { Grant } = deps.provider;
  const grant = details.grantId
    ? await Grant.find(details.grantId)
    : new Grant({ accountId: details.session.accountId, clientId: String(details.params.client_id) });
  if (!grant) throw new GatehouseError('input.invalid', 'This sign-in has expired. Go back to the application and start again.');
  const promptDetails = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
  if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await deps.provider.interactionFinished(ctx.req, ctx.res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  ctx.respond = false;
}
