/**
 * The gate pages inside a sign-in: "an invitation is needed" (first login,
 * identity held) and "no access to this client" (the `access` prompt for a known
 * user). Both take a token (`acl_token`) or lead to the join page (`email`,
 * `name`, `message`), which files a join request for the approvers.
 */
import type { Context } from 'koa';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { Identity } from '../../identity/identity.ts';
import { mfaOf, pwdAcr } from './mfa.ts';
import { gateClient, inviteCookie, loadInteraction, presentedToken, type Interaction, type InteractionDeps } from './context.ts';

export async function showGate(
  deps: InteractionDeps,
  ctx: Context,
  details: Interaction,
  view: { identity?: Identity | undefined; error?: string | undefined; status?: number },
): Promise<void> {
  const client = await gateClient(deps, details);
  deps.page(
    ctx,
    'gate',
    {
      uid: details.uid,
      clientName: client.name,
      known: details.prompt.name === 'access',
      email: view.identity?.email,
      error: view.error,
    },
    view.status ?? 200,
  );
}

/** GET for the `access` prompt: let the user through at once if a token or an approval already covers it. */
export async function showAccess(deps: InteractionDeps, ctx: Context, details: Interaction): Promise<void> {
  const accountId = details.session?.accountId;
  if (!accountId) throw new GatehouseError('input.invalid', 'This sign-in has expired. Go back to the application and start again.');
  const presented = presentedToken(ctx, details);
  try {
    await deps.gate.admitKnownUser(accountId, await gateClient(deps, details), presented);
  } catch (err) {
    if (!isGatehouseError(err) || !(err.code.startsWith('acl_token.') || err.code === 'access.token_required')) throw err;
    // A token presented and refused says why with its status (410 expired, 409 used up…); none presented is "no access".
    await showGate(deps, ctx, details, {
      error: presented ? err.message : undefined,
      status: presented ? deps.statuses[err.code] : deps.statuses['access.token_required'],
    });
    return;
  }
  await finishAccess(deps, ctx);
}

async function finishAccess(deps: InteractionDeps, ctx: Context): Promise<void> {
  ctx.cookies.set(inviteCookie, null, { path: '/' });
  await deps.provider.interactionFinished(ctx.req, ctx.res, {}, { mergeWithLastSubmission: true });
  ctx.respond = false;
}

async function limit(deps: InteractionDeps, ctx: Context): Promise<void> {
  if (!(await deps.gateLimiter.hit(ctx.ip)).allowed)
    throw new GatehouseError('rate_limited', 'Too many attempts from your network. Wait a few minutes and try again.');
}

/** POST of the token form (`acl_token`). */
export async function postToken(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  await limit(deps, ctx);
  const token = String((ctx.request.body as Record<string, unknown>).acl_token ?? '').trim();
  const client = await gateClient(deps, details);
  const identity = details.prompt.name === 'login' ? await deps.gate.held(details.uid) : undefined;
  if (!token) {
    await showGate(deps, ctx, details, { identity, error: 'Enter the invitation code or link you were given.', status: 400 });
    return;
  }
  const code = token.includes('/invite/') ? token.slice(token.lastIndexOf('/invite/') + 8) : token;
  try {
    if (details.prompt.name === 'access' && details.session?.accountId) {
      await deps.gate.admitKnownUser(details.session.accountId, client, code);
      await finishAccess(deps, ctx);
      return;
    }
    if (!identity) throw new GatehouseError('input.invalid', 'This sign-in has expired. Go back to the application and start again.');
    const user = await deps.gate.admitFirstLogin(identity, client, code);
    await deps.gate.release(details.uid);
    await mfaOf(deps)?.requireIfInvitedBy(user.id, code);
    deps.metrics.logins.inc({ connector: identity.connectorId, result: 'success' });
    await deps.provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr: ['pwd'], acr: pwdAcr } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  } catch (err) {
    if (!isGatehouseError(err) || !err.code.startsWith('acl_token.')) throw err;
    await showGate(deps, ctx, details, { identity, error: err.message, status: deps.statuses[err.code] });
  }
}

async function requester(
  deps: InteractionDeps,
  details: Interaction,
): Promise<{ identity: Identity; userId?: string | undefined; email: string; name: string }> {
  if (details.prompt.name === 'access' && details.session?.accountId) {
    const user = await deps.users.get(details.session.accountId);
    const first = user.identities[0];
    if (!first) throw new GatehouseError('input.invalid', 'This account has no sign-in method.');
    return {
      identity: { connectorId: first.connector_id, subject: first.subject, emailVerified: user.email_verified },
      userId: user.id,
      email: user.email ?? '',
      name: user.name ?? '',
    };
  }
  const identity = await deps.gate.held(details.uid);
  if (!identity) throw new GatehouseError('input.invalid', 'This sign-in has expired. Go back to the application and start again.');
  return { identity, email: identity.email ?? '', name: identity.name ?? '' };
}

export async function showJoin(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const who = await requester(deps, details);
  deps.page(ctx, 'join', {
    uid: details.uid,
    clientName: (await gateClient(deps, details)).name,
    email: who.email,
    name: who.name,
    known: Boolean(who.userId),
  });
}

export async function postJoin(deps: InteractionDeps, ctx: Context): Promise<void> {
  const details = await loadInteraction(deps, ctx);
  const who = await requester(deps, details);
  const client = await gateClient(deps, details);
  const body = ctx.request.body as Record<string, unknown>;
  const fields = { email: String(body.email ?? ''), name: String(body.name ?? ''), message: String(body.message ?? '') };
  await limit(deps, ctx);
  let filed: { email: string };
  try {
    filed = await deps.joinRequests.file({ identity: who.identity, userId: who.userId, clientId: client.id, ...fields });
  } catch (err) {
    if (!isGatehouseError(err, 'input.invalid')) throw err;
    deps.page(ctx, 'join', { uid: details.uid, clientName: client.name, ...fields, known: Boolean(who.userId), error: err.message }, deps.statuses[err.code]);
    return;
  }
  // A request already pending for this identity stands (file() returns it): name the address its answer goes to.
  deps.page(ctx, 'join-sent', { clientName: client.name, email: filed.email }, 202);
}
