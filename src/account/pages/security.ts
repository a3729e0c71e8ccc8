/**
 * "Security" (GET /account/security): change the password (the current one
 * first; a change ends the account's other sessions and every refresh
 * token), the identities linked to the account (unlink one, never the last),
 * and the sign-ins that are live: browsers signed in to Gatehouse and apps or
 * devices holding a refresh token, each with "Sign out", and "Sign out
 * everywhere", and the second factors (issue 15, identity/mfa/): list, add an
 * authenticator app (QR code + the secret, confirmed by a first code), remove
 * one, new recovery codes (shown once). Every POST carries the CSRF value; the destructive ones ask
 * first (views/account/confirm.njk).
 */
import type { Context } from 'koa';
import type { Gatehouse } from '../../context.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { checkLocalPassword, identitiesOf, unlinkIdentity } from '../../identity/identities.ts';
import { Limiter } from '../../lib/limiter-store.ts';
import { parseDurationSeconds } from '../../config/duration.ts';
import { endAllSignIns, endOtherSignIns, endSignIn, listSignIns } from '../../oidc/account-sessions.ts';
import { builtInClients } from '../../oidc/console-client.ts';
import { dateText, flashNotice, personOf, sessionOf, type PersonPage, type SiteSection } from '../site.ts';

const securityPath = '/account/security';

const field = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/** Names of clients by id: the directory's, and the built-in ones'. */
async function clientNames(gh: Gatehouse): Promise<Map<string, string>> {
  const names = new Map<string, string>(builtInClients.map((c) => [c.clientId, c.name]));
  for (const client of await gh.clients.list()) names.set(client.clientId, client.name ?? client.clientId);
  return names;
}

/** Everything the Security page shows for this person. */
async function securityView(gh: Gatehouse, ctx: Context) {
  const person = personOf(ctx);
  const session = sessionOf(ctx);
  const local = gh.connectors.find((c) => c.type === 'local');
  const connectorNames = new Map(gh.connectors.map((c) => [c.id, c.name]));
  const links = await identitiesOf(gh.db, person.userId);
  const names = await clientNames(gh);
  const signIns = (await listSignIns(gh.db, person.userId, gh.clock.now(), session.oidcSessionUid)).map((s) => ({
    ...s,
    apps: s.clientIds.map((id) => names.get(id) ?? id),
    created: dateText(s.createdAt, 'unknown'),
    createdIso: s.createdAt === null ? null : new Date(s.createdAt).toISOString(),
    lastUsed: dateText(s.lastUsedAt),
    lastUsedIso: s.lastUsedAt === null ? null : new Date(s.lastUsedAt).toISOString(),
  }));
  return {
    title: 'Security',
    hasPassword: !!local && links.some((l) => l.connector_id === local.id),
    identities: links.map((l) => ({
      connectorId: l.connector_id,
      subject: l.subject,
      connector: connectorNames.get(l.connector_id) ?? l.connector_id,
      email: l.email,
      linked: dateText(l.created_at),
    })),
    canUnlink: links.length > 1,
    name: person.name,
    sessions: signIns.filter((s) => s.kind === 'session'),
    refreshes: signIns.filter((s) => s.kind === 'refresh'),
    factors: (await gh.mfa.factors(person.userId)).map((f) => ({
      ...f,
      kindName: f.kind === 'totp' ? 'Authenticator app' : f.kind === 'passkey' ? 'Passkey' : f.kind,
      createdText: dateText(f.created),
      lastUsedText: dateText(f.lastUsed),
    })),
    recovery: await gh.mfa.recoveryCodes(person.userId),
    mfaRequired: await gh.mfa.requiredFor(person.userId),
  };
}

async function showSecurity(gh: Gatehouse, page: PersonPage, ctx: Context, extra: Record<string, unknown> = {}, status = 200): Promise<void> {
  page(ctx, 'security', 'security', { ...(await securityView(gh, ctx)), ...extra }, status);
}

export const securityPages: SiteSection = (router, { gh, page, form }) => {
  const local = gh.connectors.find((c) => c.type === 'local');
  // Wrong current passwords per person: the login page's limits (security.maxLoginFailures per security.loginWindow).
  const wrongPasswords = new Limiter(
    gh.limiterStore,
    'account.wrongPassword',
    gh.config.security.maxLoginFailures,
    parseDurationSeconds(gh.config.security.loginWindow) * 1000,
  );

  router.get(securityPath, async (ctx) => showSecurity(gh, page, ctx));

  router.post(`${securityPath}/password`, ...form, async (ctx) => {
    const person = personOf(ctx);
    const current = field(ctx, 'current');
    const password = field(ctx, 'password');
    const again = field(ctx, 'confirm');
    const refuse = (message: string, fieldName: string) => showSecurity(gh, page, ctx, { passwordError: message, passwordField: fieldName }, 400);
    if (!current) return refuse('Enter your current password.', 'current');
    if (!password) return refuse('Enter a new password.', 'password');
    if (password !== again) return refuse('The two new passwords are not the same. Type the new one twice.', 'confirm');
    if (!(await wrongPasswords.allows(person.userId))) {
      throw new GatehouseError('rate_limited', 'Too many wrong passwords in a short time; wait a while and try again.');
    }
    if (!(await checkLocalPassword(gh.db, gh.passwords, person.userId, local?.id, current))) {
      await wrongPasswords.hit(person.userId);
      return refuse('That is not your current password.', 'current');
    }
    try {
      await gh.users.setPassword(person.userId, password, person.actor);
    } catch (err) {
      if (isGatehouseError(err) && err.code === 'input.invalid') return refuse(err.message, 'password');
      throw err;
    }
    // Everyone else signed in with the old password is signed out; this browser stays.
    const session = sessionOf(ctx);
    await endOtherSignIns(gh.db, person.userId, { oidcSessionUid: session.oidcSessionUid, accountSessionId: session.id });
    flashNotice(ctx, 'Your password was changed. Every other sign-in to your account has ended.');
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}${securityPath}`);
  });

  // --- second factors ---
  const totpLabel = (ctx: Context) => personOf(ctx).email ?? personOf(ctx).name ?? personOf(ctx).userId;

  router.get(`${securityPath}/totp`, async (ctx) => {
    const enrollment = await gh.mfa.startTotp(personOf(ctx).userId, totpLabel(ctx));
    page(ctx, 'totp-enroll', 'security', { title: 'Add an authenticator app', enrollment, factorId: enrollment.factorId });
  });

  router.post(`${securityPath}/totp`, ...form, async (ctx) => {
    const person = personOf(ctx);
    const factorId = field(ctx, 'factor');
    try {
      const { recoveryCodes } = await gh.mfa.confirmTotp(person.userId, factorId, field(ctx, 'code'), field(ctx, 'name'));
      if (recoveryCodes) {
        page(ctx, 'recovery-codes', 'security', { title: 'Save your recovery codes', codes: recoveryCodes, added: true });
        return;
      }
    } catch (err) {
      if (!isGatehouseError(err) || (err.code !== 'input.invalid' && err.code !== 'rate_limited')) throw err;
      const enrollment = (await gh.mfa.pendingTotp(person.userId, factorId, totpLabel(ctx))) ?? (await gh.mfa.startTotp(person.userId, totpLabel(ctx)));
      page(
        ctx,
        'totp-enroll',
        'security',
        { title: 'Add an authenticator app', enrollment, factorId: enrollment.factorId, error: err.message, name: field(ctx, 'name') },
        err.code === 'rate_limited' ? 429 : 400,
      );
      return;
    }
    flashNotice(ctx, 'Your authenticator app was added. Sign-ins now ask for its code.');
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}${securityPath}`);
  });

  router.get(`${securityPath}/factors/remove`, async (ctx) => {
    const person = personOf(ctx);
    const id = typeof ctx.query.id === 'string' ? ctx.query.id : '';
    const found = (await gh.mfa.factors(person.userId)).find((f) => f.id === id);
    if (!found) throw new GatehouseError('not_found', 'There is no such second factor on your account.');
    const last = (await gh.mfa.factors(person.userId)).length === 1;
    page(ctx, 'confirm', 'security', {
      title: `Remove ${found.name}?`,
      message: `Sign-ins will no longer accept ${found.name}.${last ? ' It is your last second factor: your recovery codes stop working too.' : ''}`,
      action: `${baseOf(gh)}${securityPath}/factors/remove`,
      fields: { id },
      button: 'Remove',
      cancel: `${baseOf(gh)}${securityPath}`,
    });
  });

  router.post(`${securityPath}/factors/remove`, ...form, async (ctx) => {
    const person = personOf(ctx);
    await gh.mfa.removeFactor(person.userId, field(ctx, 'id'), person.actor);
    flashNotice(ctx, 'That second factor was removed.');
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}${securityPath}`);
  });

  router.get(`${securityPath}/recovery-codes/new`, async (ctx) => {
    page(ctx, 'confirm', 'security', {
      title: 'Make new recovery codes?',
      message: 'You get 10 new codes, shown once. The codes you have now stop working.',
      action: `${baseOf(gh)}${securityPath}/recovery-codes/new`,
      button: 'Make new codes',
      cancel: `${baseOf(gh)}${securityPath}`,
    });
  });

  router.post(`${securityPath}/recovery-codes/new`, ...form, async (ctx) => {
    const person = personOf(ctx);
    if (!(await gh.mfa.hasFactor(person.userId))) throw new GatehouseError('input.invalid', 'Add a second factor first: recovery codes stand in for it.');
    // A secret shown once: the page is rendered here, not redirected to.
    page(ctx, 'recovery-codes', 'security', { title: 'Save your recovery codes', codes: await gh.mfa.newRecoveryCodes(person.userId, person.actor) });
  });

  router.get(`${securityPath}/identities/unlink`, async (ctx) => {
    const person = personOf(ctx);
    const connectorId = typeof ctx.query.connector === 'string' ? ctx.query.connector : '';
    const subject = typeof ctx.query.subject === 'string' ? ctx.query.subject : '';
    const link = (await identitiesOf(gh.db, person.userId)).find((l) => l.connector_id === connectorId && l.subject === subject);
    if (!link) throw new GatehouseError('not_found', 'That sign-in method is not linked to your account.');
    const connector = gh.connectors.find((c) => c.id === connectorId)?.name ?? connectorId;
    page(ctx, 'confirm', 'security', {
      title: `Remove ${connector}?`,
      message: `You will no longer be able to sign in with ${connector}${link.email ? ` (${link.email})` : ''}.`,
      action: `${baseOf(gh)}${securityPath}/identities/unlink`,
      fields: { connector: connectorId, subject },
      button: 'Remove',
      cancel: `${baseOf(gh)}${securityPath}`,
    });
  });

  router.post(`${securityPath}/identities/unlink`, ...form, async (ctx) => {
    const person = personOf(ctx);
    try {
      await unlinkIdentity(gh.db, gh.audit, {
        userId: person.userId,
        connectorId: field(ctx, 'connector'),
        subject: field(ctx, 'subject'),
        actor: person.actor,
        localConnectorId: local?.id,
      });
    } catch (err) {
      if (isGatehouseError(err) && (err.code === 'forbidden' || err.code === 'not_found')) {
        return showSecurity(gh, page, ctx, { identityError: err.message }, err.code === 'forbidden' ? 409 : 404);
      }
      throw err;
    }
    flashNotice(ctx, 'That sign-in method was removed from your account.');
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}${securityPath}`);
  });

  router.get(`${securityPath}/sign-ins/end`, async (ctx) => {
    const person = personOf(ctx);
    const handle = typeof ctx.query.handle === 'string' ? ctx.query.handle : '';
    const signIn = (await listSignIns(gh.db, person.userId, gh.clock.now(), sessionOf(ctx).oidcSessionUid)).find((s) => s.handle === handle);
    if (!signIn) throw new GatehouseError('not_found', 'That sign-in has already ended.');
    const names = await clientNames(gh);
    const apps = signIn.clientIds.map((id) => names.get(id) ?? id).join(', ');
    page(ctx, 'confirm', 'security', {
      title: signIn.kind === 'session' ? 'Sign out this browser?' : `Sign out ${apps || 'this app'}?`,
      message:
        signIn.kind === 'session'
          ? `The browser signed in on ${dateText(signIn.createdAt, 'an unknown date')} will have to sign in again.${signIn.current ? ' That is this browser: you will be signed out here.' : ''}`
          : `${apps || 'The app'} will have to sign in again: its refresh token ends now.`,
      action: `${baseOf(gh)}${securityPath}/sign-ins/end`,
      fields: { handle },
      button: 'Sign out',
      cancel: `${baseOf(gh)}${securityPath}`,
    });
  });

  router.post(`${securityPath}/sign-ins/end`, ...form, async (ctx) => {
    const person = personOf(ctx);
    const session = sessionOf(ctx);
    const current = (await listSignIns(gh.db, person.userId, gh.clock.now(), session.oidcSessionUid)).find((s) => s.handle === field(ctx, 'handle'));
    const ended = await endSignIn(gh.db, person.userId, field(ctx, 'handle'), gh.clock.now());
    if (ended) {
      await gh.audit.record(gh.db, {
        actor: person.actor,
        action: 'user.signed_out',
        subject: person.userId,
        details: { which: ended === 'session' ? 'browser' : 'app', clients: current?.clientIds ?? [] },
      });
    }
    ctx.status = 303;
    if (ended && current?.current) {
      // This browser's own Gatehouse sign-in: its account session went with it.
      ctx.redirect(`${baseOf(gh)}/account/login`);
      return;
    }
    flashNotice(ctx, ended ? 'Signed out.' : 'That sign-in had already ended.');
    ctx.redirect(`${baseOf(gh)}${securityPath}`);
  });

  router.get(`${securityPath}/sign-out-everywhere`, async (ctx) => {
    page(ctx, 'confirm', 'security', {
      title: 'Sign out everywhere?',
      message: 'Every browser signed in to your account, this one included, and every app and device kept signed in will have to sign in again.',
      action: `${baseOf(gh)}${securityPath}/sign-out-everywhere`,
      button: 'Sign out everywhere',
      cancel: `${baseOf(gh)}${securityPath}`,
    });
  });

  router.post(`${securityPath}/sign-out-everywhere`, ...form, async (ctx) => {
    const person = personOf(ctx);
    await endAllSignIns(gh.db, person.userId);
    await gh.audit.record(gh.db, { actor: person.actor, action: 'user.signed_out', subject: person.userId, details: { which: 'everywhere' } });
    ctx.status = 303;
    ctx.redirect(`${baseOf(gh)}/account/login`);
  });
};

/** The issuer's path (`''` at the root). */
function baseOf(gh: Gatehouse): string {
  return new URL(gh.config.issuer).pathname.replace(/\/$/, '');
}
