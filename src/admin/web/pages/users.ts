/**
 * The console's users section: search by e-mail or name (GET `q`), 50 a page;
 * one user with identities (connector + subject) and access per client (with
 * expiry and the invitation that gives it); Enable and Send reset link (a
 * user with a local account: the "Forgot password?" mail, audited with the
 * admin as actor) at once, and Disable, Revoke access (one client), Reset
 * second factors and Delete through the confirmation page. Every
 * change goes through the users operations (../../ops/users.ts) as the
 * signed-in admin, then 303 to the page that shows the result.
 */
import type { Context } from 'koa';
import { isGatehouseError } from '../../../errors.ts';
import { invoke } from '../../operation.ts';
import { deleteUser, disableUser, enableUser, listUsers, resetUserMfa, revokeUserAccess, sendUserPasswordReset, showUser } from '../../ops/users.ts';
import { adminOf, flashNotice, loadOrNotFound, runChange, seeOther, type ConsoleSection } from '../console.ts';

const perPage = 50;

export const userPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  // Reset links exist for local (e-mail + password) accounts, when a local connector is configured.
  const localConnectorId = gh.passwordResets ? gh.connectors.find((c) => c.type === 'local')?.id : undefined;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const userUrl = (id: string) => `${base}/users/${encodeURIComponent(id)}`;
  const param = (ctx: Context, name: string) => String(ctx.params[name]);

  const see = seeOther;

  /** The user or the console's not-found page (404). */
  const loadUser = (ctx: Context) => loadOrNotFound(ctx, page, 'users', () => invoke(showUser, ctxOf(ctx), { id: param(ctx, 'id') }));

  /** Runs a change; a refusal (unknown user, nothing to revoke, not allowed) is told on the page the admin lands on. */
  const change = runChange;

  router.get('/users', async (ctx) => {
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().slice(0, 200) : '';
    const all = await invoke(listUsers, ctxOf(ctx), q ? { q } : {});
    const pages = Math.max(1, Math.ceil(all.length / perPage));
    const wanted = Number.parseInt(typeof ctx.query.page === 'string' ? ctx.query.page : '1', 10);
    const at = Number.isInteger(wanted) ? Math.min(Math.max(wanted, 1), pages) : 1;
    const link = (n: number) => `${base}/users?${new URLSearchParams({ ...(q ? { q } : {}), page: String(n) }).toString()}`;
    page(ctx, 'users', 'users', {
      title: 'Users',
      q,
      users: all.slice((at - 1) * perPage, at * perPage),
      total: all.length,
      pageNumber: at,
      pages,
      previous: at > 1 ? link(at - 1) : null,
      next: at < pages ? link(at + 1) : null,
    });
  });

  router.get('/users/:id', async (ctx) => {
    const user = await loadUser(ctx);
    if (!user) return;
    const names = new Map<string, string>();
    for (const a of user.access) if (a.client !== '*') names.set(a.client, await gh.clients.displayName(a.client));
    page(ctx, 'user', 'users', {
      title: user.email ?? user.name ?? user.id,
      user,
      canSendReset: localConnectorId !== undefined && user.identities.some((i) => i.connector === localConnectorId),
      access: user.access.map((a) => ({ ...a, name: names.get(a.client) ?? a.client })),
    });
  });

  const confirm = (ctx: Context, vars: { title: string; message: string; action: string; button: string; cancel: string }) =>
    page(ctx, 'confirm', 'users', vars);

  router.get('/users/:id/disable', async (ctx) => {
    const user = await loadUser(ctx);
    if (!user) return;
    confirm(ctx, {
      title: 'Disable this user?',
      message: `${user.email ?? user.id} will be signed out everywhere, their tokens end, and they cannot sign in until enabled again.`,
      action: `${userUrl(user.id)}/disable`,
      button: 'Disable user',
      cancel: userUrl(user.id),
    });
  });
  router.post('/users/:id/disable', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(disableUser, ctxOf(ctx), { id }), 'The user is disabled.', userUrl(id), `${base}/users`);
  });

  router.post('/users/:id/enable', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(enableUser, ctxOf(ctx), { id }), 'The user is enabled again.', userUrl(id), `${base}/users`);
  });

  router.post('/users/:id/password-reset', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    try {
      const { email } = await invoke(sendUserPasswordReset, ctxOf(ctx), { id });
      flashNotice(ctx, `A reset link was sent to ${email}.`);
    } catch (err) {
      if (!isGatehouseError(err) || !['not_found', 'input.invalid'].includes(err.code)) throw err;
      flashNotice(ctx, err.message);
    }
    see(ctx, userUrl(id));
  });

  router.get('/users/:id/mfa/reset', async (ctx) => {
    const user = await loadUser(ctx);
    if (!user) return;
    confirm(ctx, {
      title: 'Reset second factors?',
      message: `Every authenticator app, passkey and recovery code of ${user.email ?? user.id} is removed. Where a second factor is required, they set up a new one at their next sign-in.`,
      action: `${userUrl(user.id)}/mfa/reset`,
      button: 'Reset second factors',
      cancel: userUrl(user.id),
    });
  });
  router.post('/users/:id/mfa/reset', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(resetUserMfa, ctxOf(ctx), { id }), 'The second factors are removed.', userUrl(id));
  });

  router.get('/users/:id/access/:client/revoke', async (ctx) => {
    const user = await loadUser(ctx);
    if (!user) return;
    const client = param(ctx, 'client');
    // Only access the user holds can be revoked; for another client id there is no page.
    if (!user.access.some((a) => a.client === client)) return page(ctx, 'not-found', 'users', {}, 404);
    const name = await gh.clients.displayName(client);
    confirm(ctx, {
      title: `Revoke access to ${name}?`,
      message: `${user.email ?? user.id} will no longer reach ${name}: the next sign-in to it asks for an invitation, and its refresh tokens stop working. Access to other clients stays.`,
      action: `${userUrl(user.id)}/access/${encodeURIComponent(client)}/revoke`,
      button: 'Revoke access',
      cancel: userUrl(user.id),
    });
  });
  router.post('/users/:id/access/:client/revoke', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const client = param(ctx, 'client');
    await change(ctx, () => invoke(revokeUserAccess, ctxOf(ctx), { id, client }), `Access to ${client} is revoked.`, userUrl(id));
  });

  router.get('/users/:id/delete', async (ctx) => {
    const user = await loadUser(ctx);
    if (!user) return;
    confirm(ctx, {
      title: 'Delete this user?',
      message: `${user.email ?? user.id} and their identities, sessions and tokens are removed for good. This cannot be undone.`,
      action: `${userUrl(user.id)}/delete`,
      button: 'Delete user',
      cancel: userUrl(user.id),
    });
  });
  router.post('/users/:id/delete', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(deleteUser, ctxOf(ctx), { id }), 'The user is deleted.', `${base}/users`);
  });
};
