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
import type { Metrics } from '../../metrics.ts';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface InteractionDeps {
  provider: Provider;
  connectors: Connector[];
  users: Users;
  metrics: Metrics;
  issuer: string;
  secureCookies: boolean;
  page(ctx: Context, name: string, vars: Record<string, unknown>, status?: number): void;
}

export async function loadInteraction(deps: InteractionDeps, ctx: Context): Promise<Interaction> {
  try {
    const details = await deps.provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.params.uid && details.uid !== ctx.params.uid) throw new Error('uid mismatch');
    return details;
  } catch {
    throw new GatehouseError('input.invalid', 'This sign-in has expired or was opened in another browser. Go back to the application and start again.');
  }
}

export function localConnectors(deps: InteractionDeps): LocalConnector[] {
  return deps.connectors.filter((c): c is LocalConnector => c.type === 'local');
}

export function clientName(client: { clientName?: string | undefined; clientId: string } | undefined): string {
  return client?.clientName ?? client?.clientId ?? 'the application';
}
