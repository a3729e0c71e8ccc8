/**
 * What every interaction route needs: the provider, the connectors, the users
 * service, page rendering and metrics; and loading the interaction once, with a
 * clear page when it has expired or never existed.
 */
import type { Context } from 'koa';
import { errors, type Provider } from 'oidc-provider';
import { GatehouseError } from '../../errors.ts';
import type { LocalConnector } from '../../identity/connectors/local.ts';
import type { Connector } from '../../identity/connectors/oidc.ts';
import type { Users } from '../../identity/users.ts';
import type { Gate } from '../../gating/access.ts';
import type { JoinRequests } from '../../gating/join-requests.ts';
import type { ClientDirectory } from '../../registration/clients.ts';
import type { Limiter } from '../../lib/limiter-store.ts';
import type { Mfa } from '../../identity/mfa/factors.ts';
import type { Metrics } from '../../metrics.ts';
import type { StatusTable } from '../oauth-errors.ts';
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
  gateLimiter: Limiter;
  interactionTtlMs: number;
  issuer: string;
  /** The HTTP status of each error code (http/middleware/errors.ts), for pages that show an error in place. */
  statuses: StatusTable;
  secureCookies: boolean;
  /** Second factors (identity/mfa/). */
  mfa: Mfa;
  page(ctx: Context, name: string, vars: Record<string, unknown>, status?: number): void;
}

const expired = () =>
  new GatehouseError('input.invalid', 'This sign-in has expired or was opened in another browser. Go back to the application and start again.');

/**
 * The interaction of this request. Only a missing interaction (no cookie, or
 * none stored under it: oidc-provider's `SessionNotFound`) or one of another
 * sign-in is "expired"; anything else (the database being down, a bug) is
 * thrown as it is, never a reason to send the person back to the start.
 */
export async function loadInteraction(deps: InteractionDeps, ctx: Context): Promise<Interaction> {
  let details: Interaction;
  try {
    details = await deps.provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) throw expired();
    // An outage comes back as oidc-provider's `temporarily_unavailable` with our `database.unavailable` as cause.
    throw outageIn(err) ?? err;
  }
  if (ctx.params.uid && details.uid !== ctx.params.uid) throw expired();
  return details;
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
