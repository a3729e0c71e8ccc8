/**
 * The `login` prompt: the login page lists every connector; the local form posts
 * e-mail and password here; a completed login ends the interaction through
 * `finishLogin`, which every connector shares.
 */
import type { Context } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { Identity } from '../../identity/identity.ts';
import { clientName, loadInteraction, localConnectors, type Interaction, type InteractionDeps } from './context.ts';

export async function showLogin(deps: InteractionDeps, ctx: Context, details: Interaction, extra: Record<string, unknown> = {}, status = 200): Promise<void> {
  const client = await deps.provider.Client.find(String(details.params.client_id));
  deps.page(ctx, 'login', {
    uid: details.uid,
    clientName: clientName(client),
    local: localConnectors(deps)[0],
    upstream: deps.connectors.filter((c) => c.type === 'oidc'),
    email: typeof details.params.login_hint === 'string' ? details.params.login_hint : '',
    signupOpen: localConnectors(deps).some((c) => c.options.signup),
    ...extra,
  }, status);
}

export async function postLogin(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const local = localConnectors(deps)[0];
  if (details.prompt.name !== 'login' || !local) throw new GatehouseError('input.invalid', 'This sign-in step is not expected now. Go back to the application and start again.');
  const body = ctx.request.body as Record<string, unknown>;
  const email = typeof body.email === 'string' ? body.email : '';
  const password = typeof body.password === 'string' ? body.password : '';
  try {
    const identity = await local.authenticate(email, password, ctx.ip);
    await finishLogin(deps, ctx, identity, ['pwd']);
  } catch (err) {
    if (!isGatehouseError(err) || err.code === 'overloaded') throw err;
    deps.metrics.logins.inc({ connector: local.id, result: 'failure' });
    const status = err.code === 'auth.throttled' ? 429 : err.code === 'input.invalid' ? 400 : err.code === 'auth.invalid_credentials' ? 401 : 403;
    await showLogin(deps, ctx, details, { error: err.message, email }, status);
  }
}

/** Resolves the identity to a user (first login creates it) and returns to oidc-provider. */
export async function finishLogin(deps: InteractionDeps, ctx: Context, identity: Identity, amr: string[]): Promise<void> {
  const user = await deps.users.signIn(identity);
  deps.metrics.logins.inc({ connector: identity.connectorId, result: 'success' });
  await deps.provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr } }, { mergeWithLastSubmission: false });
  ctx.respond = false;
}
