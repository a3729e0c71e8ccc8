/**
 * What every interaction route needs: the provider, the connectors, the users
 * service, page rendering and metrics; and loading the interaction once, with a
 * clear page when it has expired or never existed.
 */
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import { GatehouseError } from '../../errors.ts';
import type { LocalConnector } from '../../identity/connectors/local.ts';
import type { Connector } from '../../identity/connectors/oidc.ts';
import type { Users } from '../../identity/users.ts';
import type { Gate } from '../../gating/access.ts';
import type { JoinRequests } from '../../gating/join-requests.ts';
import type { ClientDirectory } from '../../registration/clients.ts';
import type { SlidingWindow } from '../../lib/throttle.ts';
import type { Metrics } from '../../metrics.ts';
import { outageIn } from '../unavailable.ts';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface InteractionDeps {
  provider: Provider;
  connectors: Connector[];
  users: Users;
  gate: Gate;
  joinRequests: JoinRequests;
  clients: ClientDirectory;
  metrics: Metrics;
  /** Token entries and join requests per IP. */
  gateLimiter: SlidingWindow;
  interactionTtlMs: number;
  issuer: string;
  secureCookies: boolean;
  page(ctx: Context, name: string, vars: Record<string, unknown>, status?: number): void;
}

export async function loadInteraction(deps: InteractionDeps, ctx: Context): Promise<Interaction> {
  try {
    const details = await deps.provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.params.uid && details.uid !== ctx.params.uid) throw new Error('uid mismatch');
    return details;
  } catch (err) {
    // The database being down is no reason to send the person back to the start.
    const outage = outageIn(err);
    if (outage) throw outage;
    throw new GatehouseError('input.invalid', 'This sign-in has expired or was opened in another browser. Go back to the application and start again.');
  }
}

export function localConnectors(deps: InteractionDeps): LocalConnector[] {
  return deps.connectors.filter((c): c is LocalConnector => c.type === 'local');
}

export function clientName(client: { clientName?: string | undefined; clientId: string } | undefined): string {
  return client?.clientName ?? client?.clientId ?? 'the application';
}

/** The invitation cookie set by /invite/<token>, read when a first login completes. */
export const inviteCookie = 'gh.invite';

export function presentedToken(ctx: Context, details: Interaction): string | undefined {
  const fromParams = details.params.acl_token ?? details.params.AclToken;
  if (typeof fromParams === 'string' && fromParams) return fromParams;
  return ctx.cookies.get(inviteCookie, { signed: true }) || undefined;
}

export async function gateClient(deps: InteractionDeps, details: Interaction): Promise<{ id: string; name: string }> {
  const id = String(details.params.client_id);
  return { id, name: await deps.clients.displayName(id) };
}

/** The status of a gate page showing why a token was not accepted. */
export function gateStatus(code: string): number {
  if (code === 'acl_token.not_found') return 404;
  if (code === 'acl_token.exhausted') return 409;
  if (code === 'acl_token.expired' || code === 'acl_token.revoked') return 410;
  return 403;
}
