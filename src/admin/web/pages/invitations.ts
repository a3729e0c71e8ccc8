/**
 * The console's invitations section (ACL tokens): the list with state badges
 * and uses ("3 of 5 used"), filtered by state; one invitation with the
 * clients it opens (their client tokens) and the people who redeemed it; the
 * create form (a client picker of static and registered clients, max users,
 * expiry presets or a date, how long the access lasts, a description), whose
 * answer shows the invite link once, with a copy button and a QR code (inline
 * SVG, no style attributes: the CSP allows none); Revoke through the
 * confirmation page. Every change goes through the invitations operations
 * (../../ops/acl-tokens.ts) as the signed-in admin.
 */
import type { Context } from 'koa';
import QRCode from 'qrcode';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { aclTokenStates, createAclToken, listAclTokens, revokeAclToken, showAclToken } from '../../ops/acl-tokens.ts';
import { adminOf, flashNotice, type ConsoleSection } from '../console.ts';

/** The expiry choices of the create form: value → what the operation is given (a duration). */
export const expiryPresets = [
  { value: '1d', label: '1 day' },
  { value: '1w', label: '1 week' },
  { value: '30d', label: '1 month' },
] as const;

export const accessPresets = [
  { value: '1w', label: '1 week' },
  { value: '30d', label: '1 month' },
  { value: '90d', label: '3 months' },
  { value: '365d', label: '1 year' },
] as const;

/** The form's field names, as a person reads them (for errors that name a field). */
const fieldLabels: Record<string, string> = {
  clients: 'Clients',
  maxUsers: 'Maximum users',
  expires: 'Invitation expires',
  clientExpires: 'Access lasts',
  description: 'Description',
};

/** `2026-12-01T19:05:00.000Z` → `2026-12-01 19:05 UTC`; null → the `none` words. */
export function when(iso: string | null, none = 'never'): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : none;
}

/** "3 of 5 used", or "3 used (no limit)" for an invitation without one. */
export function usesText(uses: number, maxUsers: number): string {
  return maxUsers === 0 ? `${uses} used (no limit)` : `${uses} of ${maxUsers} used`;
}

/** The badge class of a state: `used up` → `badge-used-up`. */
const badge = (state: string) => `badge-${state.replace(/\s+/g, '-')}`;

/**
 * The invite link as a QR code: inline SVG that draws with presentation
 * attributes only (no `style=`, which the CSP refuses), sized, and named for
 * screen readers.
 */
export async function qrSvg(link: string): Promise<string> {
  const svg = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  return svg
    .replace(/\s+style="[^"]*"/g, '')
    .replace(/<\?xml[^>]*>\s*/, '')
    .replace(/^<svg\b/, '<svg role="img" aria-label="QR code of the invitation link" width="240" height="240" focusable="false"')
    .trim();
}

/** One value or many from a form field (`clients` repeats). */
const many = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : typeof value === 'string' && value ? [value] : []);
const one = (value: unknown): string => (typeof value === 'string' ? value.trim() : Array.isArray(value) ? String(value[0] ?? '').trim() : '');

interface FormValues {
  clients: string[];
  maxUsers: string;
  expires: string;
  expiresDate: string;
  clientExpires: string;
  clientExpiresDate: string;
  description: string;
  requireMfa: boolean;
}

const emptyForm: FormValues = {
  clients: [],
  maxUsers: '1',
  expires: '1w',
  expiresDate: '',
  clientExpires: 'none',
  clientExpiresDate: '',
  description: '',
  requireMfa: false,
};

function readForm(body: Record<string, unknown>): FormValues {
  return {
    clients: many(body.clients),
    maxUsers: one(body.maxUsers),
    expires: one(body.expires) || 'none',
    expiresDate: one(body.expiresDate),
    clientExpires: one(body.clientExpires) || 'none',
    clientExpiresDate: one(body.clientExpiresDate),
    description: one(body.description),
    requireMfa: one(body.requireMfa) === 'yes',
  };
}

/** A preset, a custom date or none, as the operation's duration (`custom` needs its date: checked before). */
function chosenExpiry(choice: string, date: string): string | undefined {
  if (choice === 'none') return undefined;
  return choice === 'custom' ? date : choice;
}

export const invitationPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const invitationUrl = (id: string) => `${base}/invitations/${encodeURIComponent(id)}`;
  const param = (ctx: Context, name: string) => String(ctx.params[name]);

  /** The invitation or the console's not-found page (404). */
  const load = async (ctx: Context) => {
    try {
      return await invoke(showAclToken, ctxOf(ctx), { id: param(ctx, 'id') });
    } catch (err) {
      if (isGatehouseError(err, 'not_found') || isGatehouseError(err, 'input.invalid')) {
        page(ctx, 'not-found', 'invitations', {}, 404);
        return undefined;
      }
      throw err;
    }
  };

  /** Static and registered clients for the picker, with a name to show. */
  const pickable = async () => (await gh.clients.list()).map((c) => ({ id: c.clientId, name: c.name ?? c.clientId, source: c.source, state: c.state }));

  const showForm = async (ctx: Context, values: FormValues, error?: { message: string; field?: string }) => {
    page(
      ctx,
      'invitation-new',
      'invitations',
      { title: 'New invitation', clients: await pickable(), values, expiryPresets, accessPresets, ...(error ? { error } : {}) },
      error ? 400 : 200,
    );
  };

  router.get('/invitations', async (ctx) => {
    const wanted = one(ctx.query.state);
    const state = (aclTokenStates as readonly string[]).includes(wanted) ? wanted : '';
    const list = await invoke(listAclTokens, ctxOf(ctx), state ? { state } : {});
    page(ctx, 'invitations', 'invitations', {
      title: 'Invitations',
      state,
      states: aclTokenStates,
      invitations: list
        .map((t) => ({ ...t, badge: badge(t.state), usesText: usesText(t.uses, t.maxUsers), expiresText: when(t.expires), createdText: when(t.created) }))
        .reverse(),
    });
  });

  router.get('/invitations/new', async (ctx) => {
    await showForm(ctx, emptyForm);
  });

  router.post('/invitations', ...form, async (ctx) => {
    const values = readForm((ctx.request.body ?? {}) as Record<string, unknown>);
    for (const field of ['expires', 'clientExpires'] as const) {
      if (values[field] === 'custom' && !values[`${field}Date`]) {
        await showForm(ctx, values, { message: `${fieldLabels[field]}: choose a date`, field });
        return;
      }
    }
    const input = {
      maxUsers: /^\d+$/.test(values.maxUsers) ? Number(values.maxUsers) : values.maxUsers || undefined,
      clients: values.clients,
      expires: chosenExpiry(values.expires, values.expiresDate),
      clientExpires: chosenExpiry(values.clientExpires, values.clientExpiresDate),
      description: values.description || undefined,
      ...(values.requireMfa ? { requireMfa: true } : {}),
    };
    let made;
    try {
      made = await invoke(createAclToken, ctxOf(ctx), input);
    } catch (err) {
      if (!isGatehouseError(err, 'input.invalid') && !isGatehouseError(err, 'not_found')) throw err;
      const field = typeof err.details?.field === 'string' ? err.details.field.split('.')[0]! : undefined;
      const words =
        field && err.message.startsWith(`${err.details?.field as string}: `) ? err.message.slice(String(err.details?.field).length + 2) : err.message;
      const plain =
        field === 'clients' && values.clients.length === 0
          ? 'choose at least one client'
          : field === 'maxUsers'
            ? 'enter a whole number (0 for no limit)'
            : words;
      const message = field ? `${fieldLabels[field] ?? field}: ${plain}` : words;
      await showForm(ctx, values, { message, ...(field ? { field } : {}) });
      return;
    }
    const names = new Map((await pickable()).map((c) => [c.id, c.name]));
    // The secret is shown here only, rendered directly (no redirect): a reload of the invitation's page never shows it.
    page(ctx, 'invitation-created', 'invitations', {
      title: 'Invitation created',
      invitation: { ...made, badge: badge(made.state), usesText: usesText(made.uses, made.maxUsers), expiresText: when(made.expires) },
      clientNames: made.clients.map((id) => names.get(id) ?? id),
      link: made.link,
      qr: await qrSvg(made.link),
      detailUrl: invitationUrl(made.id),
    });
  });

  router.get('/invitations/:id', async (ctx) => {
    const found = await load(ctx);
    if (!found) return;
    const names = new Map((await pickable()).map((c) => [c.id, c.name]));
    page(ctx, 'invitation', 'invitations', {
      title: found.description ? `Invitation: ${found.description}` : 'Invitation',
      invitation: {
        ...found,
        badge: badge(found.state),
        usesText: usesText(found.uses, found.maxUsers),
        expiresText: when(found.expires),
        createdText: when(found.created),
        revokedText: when(found.revoked, ''),
      },
      clients: found.clients.map((c) => ({ ...c, name: names.get(c.client) ?? c.client, badge: badge(c.state), expiresText: when(c.expires, 'no end') })),
      users: found.redeemedBy,
      usersUrl: `${base}/users`,
      revokeUrl: `${invitationUrl(found.id)}/revoke`,
    });
  });

  router.get('/invitations/:id/revoke', async (ctx) => {
    const found = await load(ctx);
    if (!found) return;
    const what = found.description ? `"${found.description}"` : 'this invitation';
    page(ctx, 'confirm', 'invitations', {
      title: 'Revoke this invitation?',
      message: `Nobody can use ${what} any more${found.uses === 0 ? '' : `, and the ${found.uses === 1 ? 'person' : `${found.uses} people`} who used it lose the access it gave at their next sign-in or token refresh`}. This cannot be undone.`,
      action: `${invitationUrl(found.id)}/revoke`,
      button: 'Revoke invitation',
      cancel: invitationUrl(found.id),
    });
  });

  router.post('/invitations/:id/revoke', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    ctx.status = 303;
    try {
      await invoke(revokeAclToken, ctxOf(ctx), { id });
      flashNotice(ctx, 'The invitation is revoked.');
      ctx.redirect(invitationUrl(id));
    } catch (err) {
      if (!isGatehouseError(err, 'not_found') && !isGatehouseError(err, 'input.invalid')) throw err;
      flashNotice(ctx, err.message);
      ctx.redirect(`${base}/invitations`);
    }
  });
};
