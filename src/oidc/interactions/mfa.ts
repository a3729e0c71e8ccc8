/**
 * The `mfa` prompt (issue 15): after the first factor (a password, an upstream
 * provider), before the access check. It asks for a second factor when
 *
 * - the person has enrolled one (always asked then), or
 * - the client requires one (`requireMfa: true` in config.yaml; registered clients: `client set-require-mfa`), or
 * - `security.mfa: required`, or the person came in through an invitation with `require_mfa`, or
 * - the application's `acr_values` names `urn:gatehouse:mfa` (or PAPE multi-factor),
 *
 * and this session has not given one since its last login (`session.acr` is not
 * `urn:gatehouse:mfa`: a new password login, `max_age` or `prompt=login`
 * included, asks again; an upstream sign-in whose `amr` asserts a second factor
 * starts with `urn:gatehouse:mfa`, login.ts and identity/mfa/amr.ts). Someone without a factor where one is required enrolls
 * TOTP here first (QR code, the secret as text, confirmed by a first code;
 * recovery codes shown once). The prompt ends with a new login result for the same
 * account: `amr` the first factor's plus the second's, `acr: urn:gatehouse:mfa`.
 */
import type { Context } from 'koa';
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { mfaAcr, mfaAcrValues, pwdAcr, type Mfa } from '../../identity/mfa/factors.ts';
import { reportingOutages } from '../unavailable.ts';
import { clientName, loadInteraction, type Interaction, type InteractionDeps } from './context.ts';

export { mfaAcr, pwdAcr };

/** The second-factor service of these interactions. */
export function mfaOf(deps: { mfa: Mfa }): Mfa {
  return deps.mfa;
}

/** Whether the authorization request's `acr_values` asks for a second factor. */
export function asksForMfa(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').some((v) => mfaAcrValues.includes(v));
}

/** The `mfa` prompt for interactionPolicy: `clientRequiresMfa` says whether a client requires a second factor (static or registered). */
export function mfaPrompt(mfa: Mfa, clientRequiresMfa: (clientId: string) => Promise<boolean>): interactionPolicy.Prompt {
  const { Prompt, Check } = interactionPolicy;
  return new Prompt(
    { name: 'mfa', requestable: false },
    new Check(
      'mfa_required',
      'a second factor is required for this sign-in',
      reportingOutages(async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId || ctx.oidc.session?.acr === mfaAcr) return Check.NO_NEED_TO_PROMPT;
        const clientId = ctx.oidc.client?.clientId;
        const needed =
          (clientId !== undefined && (await clientRequiresMfa(clientId))) || asksForMfa(ctx.oidc.params?.acr_values) || (await mfa.asksEverySignIn(accountId));
        return needed ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    ),
  );
}

function service(deps: InteractionDeps): Mfa {
  const mfa = mfaOf(deps);
  if (!mfa) throw new GatehouseError('input.invalid', 'Second factors are not available here.');
  return mfa;
}

async function mfaStep(deps: InteractionDeps, ctx: Context): Promise<{ details: Interaction; accountId: string; mfa: Mfa }> {
  const details = await loadInteraction(deps, ctx);
  const accountId = details.session?.accountId;
  if (details.prompt.name !== 'mfa' || !accountId)
    throw new GatehouseError('input.invalid', 'This sign-in step is not expected now. Go back to the application and start again.');
  return { details, accountId, mfa: service(deps) };
}

async function label(deps: InteractionDeps, accountId: string): Promise<string> {
  const user = await deps.users.find(accountId);
  return user?.email ?? user?.name ?? accountId;
}

/** GET for the `mfa` prompt: the code form for someone with a factor, TOTP enrollment for someone without. */
export async function showMfa(deps: InteractionDeps, ctx: Context, details: Interaction, extra: Record<string, unknown> = {}, status = 200): Promise<void> {
  const accountId = details.session?.accountId;
  if (!accountId) throw new GatehouseError('input.invalid', 'This sign-in has expired. Go back to the application and start again.');
  const mfa = service(deps);
  const factors = await mfa.factors(accountId);
  const client = clientName(await deps.provider.Client.find(String(details.params.client_id)));
  if (factors.length === 0) {
    const enrollment =
      (typeof extra.factorId === 'string' ? await mfa.pendingTotp(accountId, extra.factorId, await label(deps, accountId)) : undefined) ??
      (await mfa.startTotp(accountId, await label(deps, accountId)));
    deps.page(ctx, 'mfa-enroll', { uid: details.uid, clientName: client, enrollment, ...extra, factorId: enrollment.factorId }, status);
    return;
  }
  deps.page(
    ctx,
    'mfa',
    { uid: details.uid, clientName: client, hasTotp: factors.some((f) => f.kind === 'totp'), kinds: [...new Set(factors.map((f) => f.kind))], ...extra },
    status,
  );
}

/** Ends the prompt: the same account, the first factor's `amr` plus the second's, `acr` MFA. */
export async function finishMfa(
  deps: InteractionDeps,
  ctx: Context,
  details: Interaction,
  amr: string[],
  options: { returnUrl?: boolean } = {},
): Promise<string | undefined> {
  const accountId = details.session!.accountId;
  const first = (details.session?.amr as string[] | undefined) ?? ['pwd'];
  const result = { login: { accountId, amr: [...new Set([...first, ...amr])], acr: mfaAcr } };
  if (options.returnUrl) return deps.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  await deps.provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.respond = false;
  return undefined;
}

function failed(deps: InteractionDeps, ctx: Context, err: unknown): number {
  if (!isGatehouseError(err) || !(err.code === 'input.invalid' || err.code === 'rate_limited')) throw err;
  const retryAfter = err.details?.retryAfterSeconds;
  if (typeof retryAfter === 'number') ctx.set('Retry-After', String(retryAfter));
  return deps.statuses[err.code];
}

/** POST /interaction/:uid/mfa: a code from the authenticator app. */
export async function postMfa(deps: InteractionDeps, ctx: Context): Promise<void> {
  const { details, accountId, mfa } = await mfaStep(deps, ctx);
  const code = String((ctx.request.body as Record<string, unknown>).code ?? '');
  try {
    const { amr } = await mfa.verifyTotp(accountId, code);
    await finishMfa(deps, ctx, details, amr);
  } catch (err) {
    const status = failed(deps, ctx, err);
    await showMfa(deps, ctx, details, { error: (err as Error).message }, status);
  }
}

/** GET /interaction/:uid/mfa/recovery: the recovery code form. */
export async function showRecovery(deps: InteractionDeps, ctx: Context): Promise<void> {
  const { details } = await mfaStep(deps, ctx);
  deps.page(ctx, 'mfa-recovery', { uid: details.uid, clientName: clientName(await deps.provider.Client.find(String(details.params.client_id))) });
}

/** POST /interaction/:uid/mfa/recovery: one recovery code, used once (mailed to the person). */
export async function postRecovery(deps: InteractionDeps, ctx: Context): Promise<void> {
  const { details, accountId, mfa } = await mfaStep(deps, ctx);
  const code = String((ctx.request.body as Record<string, unknown>).code ?? '');
  try {
    const { amr } = await mfa.useRecoveryCode(accountId, code);
    await finishMfa(deps, ctx, details, amr);
  } catch (err) {
    const status = failed(deps, ctx, err);
    deps.page(
      ctx,
      'mfa-recovery',
      { uid: details.uid, clientName: clientName(await deps.provider.Client.find(String(details.params.client_id))), error: (err as Error).message },
      status,
    );
  }
}

/** POST /interaction/:uid/mfa/enroll: the first code confirms the new TOTP factor; new recovery codes are shown once. */
export async function postEnroll(deps: InteractionDeps, ctx: Context): Promise<void> {
  const { details, accountId, mfa } = await mfaStep(deps, ctx);
  const body = ctx.request.body as Record<string, unknown>;
  const factorId = String(body.factor ?? '');
  try {
    const { recoveryCodes } = await mfa.confirmTotp(accountId, factorId, String(body.code ?? ''));
    if (!recoveryCodes) {
      await finishMfa(deps, ctx, details, ['otp']);
      return;
    }
    const next = await finishMfa(deps, ctx, details, ['otp'], { returnUrl: true });
    deps.page(ctx, 'mfa-recovery-codes', { uid: details.uid, codes: recoveryCodes, next });
  } catch (err) {
    const status = failed(deps, ctx, err);
    await showMfa(deps, ctx, details, { error: (err as Error).message, factorId }, status);
  }
}
