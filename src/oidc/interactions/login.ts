/**
 * The `login` prompt: the login page lists every connector; the local form posts
 * e-mail and password here; a completed login ends the interaction through
 * `finishLogin`, which every connector shares.
 */
import type { Context } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { Identity } from '../../identity/identity.ts';
import { clientName, gateClient, inviteCookie, loadInteraction, localConnectors, presentedToken, type Interaction, type InteractionDeps } from './context.ts';
import { showGate } from './gate.ts';
import { assertsSecondFactor } from '../../identity/mfa/amr.ts';
import { mfaAcr, mfaOf, pwdAcr } from './mfa.ts';

export async function showLogin(deps: InteractionDeps, ctx: Context, details: Interaction, extra: Record<string, unknown> = {}, status = 200): Promise<void> {
  const client = await deps.provider.Client.find(String(details.params.client_id));
  deps.page(
    ctx,
    'login',
    {
      uid: details.uid,
      clientName: clientName(client),
      local: localConnectors(deps)[0],
      upstream: deps.connectors.filter((c) => c.type === 'oidc'),
      // `?login_hint=` on the page's own address: back from a confirmation or reset page, the address stays filled in.
      email:
        typeof ctx.query.login_hint === 'string'
          ? ctx.query.login_hint.slice(0, 320)
          : typeof details.params.login_hint === 'string'
            ? details.params.login_hint
            : '',
      signupOpen: localConnectors(deps).some((c) => c.options.signup),
      ...extra,
    },
    status,
  );
}

export function linkNotice(deps: InteractionDeps, identity: Identity): { connectorName: string; email: string | undefined } {
  return { connectorName: deps.connectors.find((c) => c.id === identity.connectorId)?.name ?? identity.connectorId, email: identity.email };
}

export async function postLogin(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const local = localConnectors(deps)[0];
  if (details.prompt.name !== 'login' || !local)
    throw new GatehouseError('input.invalid', 'This sign-in step is not expected now. Go back to the application and start again.');
  const body = ctx.request.body as Record<string, unknown>;
  const email = typeof body.email === 'string' ? body.email : '';
  const password = typeof body.password === 'string' ? body.password : '';
  try {
    const identity = await local.authenticate(email, password, ctx.ip);
    await finishLogin(deps, ctx, details, identity, ['pwd']);
  } catch (err) {
    // The server's side (overloaded, the database down) is not a failed login: the error page says so.
    const status = isGatehouseError(err) ? deps.statuses[err.code] : 500;
    if (!isGatehouseError(err) || status >= 500) throw err;
    deps.metrics.logins.inc({ connector: local.id, result: 'failure' });
    const retryAfter = err.details?.retryAfterSeconds;
    if (typeof retryAfter === 'number') ctx.set('Retry-After', String(retryAfter));
    await showLogin(deps, ctx, details, { error: err.message, email }, status);
  }
}

/**
 * Resolves the identity to a user and returns to oidc-provider. A known user
 * goes on (the `access` prompt checks the client next); a first login passes
 * the gate here, or waits at the gate page with its identity held for this
 * sign-in.
 */
export async function finishLogin(deps: InteractionDeps, ctx: Context, details: Interaction, identity: Identity, amr: string[]): Promise<void> {
  const known = await deps.users.lookup(identity);
  let userId: string;
  if (known) {
    const user = await deps.users.recordLogin(known);
    // An identity held for linking is joined to this user only now that they proved who they are.
    const held = await deps.gate.held(details.uid);
    if (held && (await deps.users.linkIfCandidate(user, held))) await deps.gate.release(details.uid);
    userId = user.id;
  } else if (await deps.users.linkCandidate(identity)) {
    // Same verified e-mail as an existing user: never linked on the e-mail alone.
    await deps.gate.hold(details.uid, identity, deps.interactionTtlMs);
    await showLogin(deps, ctx, details, { link: linkNotice(deps, identity) });
    return;
  } else {
    const client = await gateClient(deps, details);
    const presented = presentedToken(ctx, details);
    try {
      userId = (await deps.gate.admitFirstLogin(identity, client, presented)).id;
    } catch (err) {
      if (!isGatehouseError(err) || !(err.code.startsWith('acl_token.') || err.code === 'access.token_required')) throw err;
      await deps.gate.hold(details.uid, identity, deps.interactionTtlMs);
      deps.metrics.logins.inc({ connector: identity.connectorId, result: 'gated' });
      await showGate(deps, ctx, details, { identity, error: presented ? err.message : undefined, status: presented ? deps.statuses[err.code] : 200 });
      return;
    }
    // An invitation with require_mfa: the `mfa` prompt next enrolls a second factor (./mfa.ts).
    await mfaOf(deps)?.requireIfInvitedBy(userId, presented);
    if (presented && !details.params.acl_token && !details.params.AclToken) ctx.cookies.set(inviteCookie, null, { path: '/' });
  }
  deps.metrics.logins.inc({ connector: identity.connectorId, result: 'success' });
  // An upstream that asserted a second factor (its `amr`, identity/mfa/amr.ts) has given this sign-in's: the `mfa` prompt does not ask.
  const acr = assertsSecondFactor(amr) ? mfaAcr : pwdAcr;
  await deps.provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: userId, amr, acr } }, { mergeWithLastSubmission: false });
  ctx.respond = false;
}
