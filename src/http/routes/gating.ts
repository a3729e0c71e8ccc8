/**
 * The gating pages outside a sign-in: invitation links (`/invite/<token>`:
 * checked and remembered in this browser, not used up; the page names each app
 * with an Open link, registration/clients.ts `openUrl`) and approval links
 * (`/approval/<token>`: GET shows a confirmation page and changes nothing, only
 * its POST decides); client approval links (`/approval/client/<token>`) the same way.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AclTokens } from '../../gating/acl-tokens.ts';
import type { JoinRequests } from '../../gating/join-requests.ts';
import { openUrl, type ClientDirectory } from '../../registration/clients.ts';
import type { Registrar } from '../../registration/registrar.ts';
import { inviteCookie } from '../../oidc/interactions/context.ts';
import type { Db } from '../../db/knex.ts';
import type { Page } from '../app.ts';

export interface GatingRouteDeps {
  db: Db;
  aclTokens: AclTokens;
  joinRequests: JoinRequests;
  clients: ClientDirectory;
  registrar: Registrar;
  page: Page;
  secure: boolean;
  cookiePath: string;
  /** The issuer, for the apps' `initiate_login_uri?iss=`; without it, this site's origin and base path. */
  issuer?: string;
}

export function gatingRoutes(deps: GatingRouteDeps, form: Middleware[]): Router {
  const router = new Router();

  router.get('/invite/:token', async (ctx: Context) => {
    const token = String(ctx.params.token);
    const row = await deps.aclTokens.check(deps.db, token, undefined);
    const details = await deps.aclTokens.get(row.id);
    const issuer = deps.issuer ?? `${ctx.protocol}://${ctx.host}${deps.cookiePath === '/' ? '' : deps.cookiePath}`;
    // Each app by name, with where to open it (initiate_login_uri, client_uri or its redirect URI's origin).
    const apps = await Promise.all(
      [...new Set(details.clients.map((c) => c.client_id))].map(async (id) => {
        const client = await deps.clients.find(id);
        return { clientId: id, name: client?.name ?? id, href: client ? openUrl(client, issuer) : null };
      }),
    );
    // Remembered for 30 days in this browser; used when a first login completes.
    ctx.cookies.set(inviteCookie, token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.secure,
      signed: true,
      maxAge: 30 * 86_400_000,
      path: deps.cookiePath,
    });
    deps.page(ctx, 'invite', { apps, description: details.description });
  });

  // Client approval links (registration tokens with --approval): registered on the router before /approval/:token.
  router.get('/approval/client/:token', ...form, async (ctx: Context) => {
    const view = await deps.registrar.viewLink(String(ctx.params.token));
    deps.page(ctx, 'client-approval', {
      token: String(ctx.params.token),
      clientId: view.record.client_id,
      clientName: view.clientName,
      redirectUris: view.redirectUris,
      grantTypes: view.grantTypes,
      approver: view.link.approver,
    });
  });

  router.post('/approval/client/:token', ...form, async (ctx: Context) => {
    deps.page(ctx, 'client-approval-done', await deps.registrar.actOnLink(String(ctx.params.token)));
  });

  router.get('/approval/:token', ...form, async (ctx: Context) => {
    const view = await deps.joinRequests.viewLink(String(ctx.params.token));
    deps.page(ctx, 'approval', {
      token: String(ctx.params.token),
      action: view.link.action,
      request: view.request,
      clientName: view.clientName,
      approver: view.link.approver,
    });
  });

  router.post('/approval/:token', ...form, async (ctx: Context) => {
    const { request, clientName } = await deps.joinRequests.actOnLink(String(ctx.params.token));
    deps.page(ctx, 'approval-done', { request, clientName });
  });
  return router;
}
