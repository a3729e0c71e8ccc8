/**
 * The console's registration tokens section (counted initial access tokens
 * for dynamic client registration): the list, newest first, with state badges
 * and uses ("1 of 3 used"); the create form (how many clients, expiry presets
 * or a date, allowed grant types, redirect hosts and scope, approval), whose
 * answer shows the token once with a copy button; Revoke through the
 * confirmation page. Every change goes through the registration token
 * operations (../../ops/registration-tokens.ts) as the signed-in admin.
 * Small helpers the other token, device, key and audit pages share are here too.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { createRegistrationToken, listRegistrationTokens, showRegistrationToken, revokeRegistrationToken } from '../../ops/registration-tokens.ts';
import { adminOf, flashNotice, type ConsoleSection } from '../console.ts';

/** `2026-12-01T19:05:00.000Z` → `2026-12-01 19:05 UTC`; null → the `none` words. */
export function when(iso: string | null, none = 'never'): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : none;
}

/** The badge class of a state (admin.css): `used up` → `badge-used-up`, `disabled (admin)` → `badge-disabled`, `enabled` → `badge-active`. */
export function badge(state: string): string {
  const word = state.replace(/\s*\(.*\)$/, '').replace(/\s+/g, '-');
  return `badge-${word === 'enabled' ? 'active' : word}`;
}

/** One form or query value, trimmed ('' when absent). */
export const one = (value: unknown): string => (typeof value === 'string' ? value.trim() : Array.isArray(value) ? String(value[0] ?? '').trim() : '');
/** One value or many from a repeated form field. */
export const many = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : typeof value === 'string' && value ? [value] : []);

/** The field of a refusal and its words without the `field: ` prefix zod puts first. */
export function refusal(
  err: { message: string; details?: Record<string, unknown> | undefined },
  labels: Record<string, string>,
): { message: string; field?: string } {
  const raw = typeof err.details?.field === 'string' ? err.details.field : undefined;
  const field = raw?.split('.')[0];
  const words = raw && err.message.startsWith(`${raw}: `) ? err.message.slice(raw.length + 2) : err.message;
  return field ? { message: `${labels[field] ?? field}: ${words}`, field } : { message: words };
}

export const expiryPresets = [
  { value: '1d', label: '1 day' },
  { value: '7d', label: '1 week' },
  { value: '30d', label: '1 month' },
] as const;

export const grantChoices = [
  { value: 'client_credentials', label: 'Client credentials (devices, services)' },
  { value: 'authorization_code', label: 'Authorization code (apps people sign in to)' },
  { value: 'refresh_token', label: 'Refresh token' },
  { value: 'urn:ietf:params:oauth:grant-type:device_code', label: 'Device code' },
] as const;

const fieldLabels: Record<string, string> = {
  count: 'Number of clients',
  expires: 'Expires',
  description: 'Description',
  grantTypes: 'Grant types',
  redirectHosts: 'Redirect hosts',
  scope: 'Scope',
  aclTokenId: 'Invitation',
};

interface FormValues {
  count: string;
  expires: string;
  expiresDate: string;
  description: string;
  grantTypes: string[];
  redirectHosts: string;
  scope: string;
  approval: boolean;
}

const emptyForm: FormValues = { count: '1', expires: '7d', expiresDate: '', description: '', grantTypes: [], redirectHosts: '', scope: '', approval: false };

function readForm(body: Record<string, unknown>): FormValues {
  return {
    count: one(body.count),
    expires: one(body.expires) || '7d',
    expiresDate: one(body.expiresDate),
    description: one(body.description),
    grantTypes: many(body.grantTypes),
    redirectHosts: one(body.redirectHosts),
    scope: one(body.scope),
    approval: one(body.approval) === 'yes',
  };
}

/** "1 of 3 used". */
const usesText = (uses: number, count: number) => `${uses} of ${count} used`;

export const registrationTokenPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const listUrl = `${base}/registration-tokens`;

  const showForm = (ctx: Context, values: FormValues, error?: { message: string; field?: string }, status = 400) => {
    page(
      ctx,
      'registration-token-new',
      'registration-tokens',
      {
        title: 'New registration token',
        values,
        expiryPresets,
        grantChoices,
        registrationEnabled: gh.config.registration.enabled,
        ...(error ? { error } : {}),
      },
      error ? status : 200,
    );
  };

  router.get('/registration-tokens', async (ctx) => {
    const list = await invoke(listRegistrationTokens, ctxOf(ctx), {});
    page(ctx, 'registration-tokens', 'registration-tokens', {
      title: 'Registration tokens',
      registrationEnabled: gh.config.registration.enabled,
      tokens: list
        .map((t) => ({ ...t, badge: badge(t.state), usesText: usesText(t.uses, t.count), expiresText: when(t.expires), createdText: when(t.created) }))
        .reverse(),
    });
  });

  router.get('/registration-tokens/new', (ctx) => {
    showForm(ctx, emptyForm);
  });

  router.post('/registration-tokens', ...form, async (ctx) => {
    const values = readForm((ctx.request.body ?? {}) as Record<string, unknown>);
    if (values.expires === 'custom' && !values.expiresDate) return showForm(ctx, values, { message: 'Expires: choose a date', field: 'expires' });
    const input = {
      count: /^\d+$/.test(values.count) ? Number(values.count) : values.count || undefined,
      expires: values.expires === 'custom' ? values.expiresDate : values.expires,
      description: values.description || undefined,
      grantTypes: values.grantTypes.length ? values.grantTypes : undefined,
      redirectHosts: values.redirectHosts ? values.redirectHosts.split(/[\s,]+/).filter(Boolean) : undefined,
      scope: values.scope || undefined,
      approval: values.approval,
    };
    let made;
    try {
      made = await invoke(createRegistrationToken, ctxOf(ctx), input);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid') && !isGatehouseError(err, 'not_found')) throw err;
      return showForm(ctx, values, refusal(err, fieldLabels));
    }
    // The secret is shown here only, rendered directly (no redirect): nothing shows it again.
    page(ctx, 'registration-token-created', 'registration-tokens', {
      title: 'Registration token created',
      token: { ...made, badge: badge(made.state), usesText: usesText(made.uses, made.count), expiresText: when(made.expires) },
      secret: made.token,
      issuer: gh.config.issuer,
      registrationEnabled: gh.config.registration.enabled,
    });
  });

  router.get('/registration-tokens/:id/revoke', async (ctx) => {
    let found;
    try {
      found = await invoke(showRegistrationToken, ctxOf(ctx), { id: String(ctx.params.id) });
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      return page(ctx, 'not-found', 'registration-tokens', {}, 404);
    }
    const what = found.description ? `"${found.description}"` : 'this registration token';
    page(ctx, 'confirm', 'registration-tokens', {
      title: 'Revoke this registration token?',
      message: `No more clients can be registered with ${what} (${usesText(found.uses, found.count)}). The clients already registered with it keep working. This cannot be undone.`,
      action: `${listUrl}/${encodeURIComponent(found.id)}/revoke`,
      button: 'Revoke registration token',
      cancel: listUrl,
    });
  });

  router.post('/registration-tokens/:id/revoke', ...form, async (ctx) => {
    ctx.status = 303;
    try {
      await invoke(revokeRegistrationToken, ctxOf(ctx), { id: String(ctx.params.id) });
      flashNotice(ctx, 'The registration token is revoked.');
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      flashNotice(ctx, err.message);
    }
    ctx.redirect(listUrl);
  });
};
