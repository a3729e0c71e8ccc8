/**
 * The console's clients section: every client, the static ones (from
 * config.yaml, read-only: they are changed there) and the registered ones,
 * with state, users with access and the registration token used; one client
 * with its facts, approvers and metadata. A registered client can be enabled
 * at once, disabled and deleted through the confirmation page, and given its
 * own approvers (one e-mail address a line; empty clears them) and be listed
 * to people at /account/browse or not (discoverable), and required to take a
 * second factor at every sign-in or not (requireMfa). Every change
 * goes through the clients operations (../../ops/clients.ts) as the signed-in
 * admin, then 303 to the page that shows the result.
 */
import type { Context } from 'koa';
import { invoke } from '../../operation.ts';
import {
  deleteClient,
  disableClient,
  enableClient,
  listClients,
  setClientApprovers,
  setClientDiscoverable,
  setClientRequireMfa,
  showClient,
} from '../../ops/clients.ts';
import { adminOf, flashNotice, loadOrNotFound, runChange, seeOther, type ConsoleSection } from '../console.ts';

/** The approvers textarea: addresses split on new lines, commas, semicolons or spaces. */
export function approverList(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);
}

export const clientPages: ConsoleSection = (router, { gh, page, form }) => {
  const base = `${new URL(gh.config.issuer).pathname.replace(/\/$/, '')}/admin`;
  const listUrl = `${base}/clients`;
  const ctxOf = (ctx: Context) => ({ gh, actor: adminOf(ctx).actor });
  const clientUrl = (id: string) => `${listUrl}/${encodeURIComponent(id)}`;
  const param = (ctx: Context, name: string) => String(ctx.params[name]);

  const see = seeOther;

  /** The client or the console's not-found page (404). */
  const loadClient = (ctx: Context) => loadOrNotFound(ctx, page, 'clients', () => invoke(showClient, ctxOf(ctx), { id: param(ctx, 'id') }));

  /** Runs a change; a refusal (a static client, an unknown one, a bad address) is told on the page the admin lands on. */
  const change = runChange;

  router.get('/clients', async (ctx) => {
    const clients = await invoke(listClients, ctxOf(ctx), {});
    page(ctx, 'clients', 'clients', {
      title: 'Clients',
      staticClients: clients.filter((c) => c.source === 'static'),
      registered: clients.filter((c) => c.source === 'registered'),
      gatingOff: gh.gate.mode === 'open',
    });
  });

  router.get('/clients/:id', async (ctx) => {
    const client = await loadClient(ctx);
    if (!client) return;
    page(ctx, 'client', 'clients', {
      title: client.name ?? client.id,
      client,
      approversText: client.approvers.join('\n'),
      metadataJson: JSON.stringify(client.metadata, null, 2),
      gatingOff: gh.gate.mode === 'open',
    });
  });

  router.post('/clients/:id/enable', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(enableClient, ctxOf(ctx), { id }), 'The client is enabled.', clientUrl(id));
  });

  const confirm = (ctx: Context, vars: { title: string; message: string; action: string; button: string; cancel: string }) =>
    page(ctx, 'confirm', 'clients', vars);

  router.get('/clients/:id/disable', async (ctx) => {
    const client = await loadClient(ctx);
    if (!client) return;
    if (client.source === 'static') {
      flashNotice(ctx, `${client.id} is a static client: change it in config.yaml.`);
      return see(ctx, clientUrl(client.id));
    }
    confirm(ctx, {
      title: 'Disable this client?',
      message: `${client.name ?? client.id} will not sign anybody in or get tokens, and its tokens stop working, until it is enabled again.`,
      action: `${clientUrl(client.id)}/disable`,
      button: 'Disable client',
      cancel: clientUrl(client.id),
    });
  });
  router.post('/clients/:id/disable', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(disableClient, ctxOf(ctx), { id }), 'The client is disabled.', clientUrl(id));
  });

  router.get('/clients/:id/delete', async (ctx) => {
    const client = await loadClient(ctx);
    if (!client) return;
    if (client.source === 'static') {
      flashNotice(ctx, `${client.id} is a static client: remove it from config.yaml.`);
      return see(ctx, clientUrl(client.id));
    }
    confirm(ctx, {
      title: 'Delete this client?',
      message: `${client.name ?? client.id} is removed for good, with its access links, grants, tokens and codes. This cannot be undone.`,
      action: `${clientUrl(client.id)}/delete`,
      button: 'Delete client',
      cancel: clientUrl(client.id),
    });
  });
  router.post('/clients/:id/delete', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    await change(ctx, () => invoke(deleteClient, ctxOf(ctx), { id }), `The client ${id} is deleted.`, listUrl, clientUrl(id));
  });

  router.post('/clients/:id/approvers', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const raw = (ctx.request.body as Record<string, unknown> | undefined)?.approvers;
    const approvers = approverList(typeof raw === 'string' ? raw : '');
    await change(
      ctx,
      () => invoke(setClientApprovers, ctxOf(ctx), { id, approvers }),
      approvers.length ? `The approvers are saved: ${approvers.join(', ')}.` : 'The approvers are removed: the global approvers decide again.',
      clientUrl(id),
    );
  });

  router.post('/clients/:id/discoverable', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const raw = (ctx.request.body as Record<string, unknown> | undefined)?.discoverable;
    if (raw !== 'true' && raw !== 'false') {
      flashNotice(ctx, 'Choose whether the client is listed in Other apps.');
      return see(ctx, clientUrl(id));
    }
    const discoverable = raw === 'true';
    await change(
      ctx,
      () => invoke(setClientDiscoverable, ctxOf(ctx), { id, discoverable }),
      discoverable ? 'The client is listed in Other apps: people without access can ask for it.' : 'The client is no longer listed in Other apps.',
      clientUrl(id),
    );
  });

  router.post('/clients/:id/require-mfa', ...form, async (ctx) => {
    const id = param(ctx, 'id');
    const raw = (ctx.request.body as Record<string, unknown> | undefined)?.requireMfa;
    if (raw !== 'true' && raw !== 'false') {
      flashNotice(ctx, 'Choose whether signing in to the client takes a second factor.');
      return see(ctx, clientUrl(id));
    }
    const requireMfa = raw === 'true';
    await change(
      ctx,
      () => invoke(setClientRequireMfa, ctxOf(ctx), { id, requireMfa }),
      requireMfa
        ? 'Signing in to the client now takes a second factor: people without one set one up at their next sign-in.'
        : 'The client no longer requires a second factor: people who have one are still asked for it.',
      clientUrl(id),
    );
  });
};
