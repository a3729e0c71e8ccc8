/**
 * oidc-provider, configured from our Config: knex adapter, keys from the
 * database, our pages for everything a person sees, refresh rotation,
 * client credentials, introspection, revocation, device flow, RP-initiated
 * logout. devInteractions are off: interactions are ours (./interactions/).
 */
import { adminScope } from './admin-tokens.ts';
import { Provider, interactionPolicy, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Gate } from '../gating/access.ts';
import { parseDurationSeconds } from '../config/duration.ts';
import type { Config } from '../config/schema.ts';
import type { Db } from '../db/knex.ts';
import type { Users } from '../identity/users.ts';
import type { Clock } from '../lib/clock.ts';
import { randomId } from '../lib/secrets.ts';
import { findAccountWith } from './account.ts';
import { mfaAcr, papeMultiFactor, pwdAcr, type Mfa } from '../identity/mfa/factors.ts';
import { mfaPrompt } from './interactions/mfa.ts';
import { formParts, reuseBuiltClients } from './internals.ts';
import { reportingOutages } from './unavailable.ts';
import { adapterFactory, storedClientReader, type StoreWork } from './adapter.ts';
import type { PrivateJwk } from './keys.ts';
import { deviceFlowPages } from './device-pages.ts';
import { installDeviceRequestFixes } from './device-requests.ts';
import { plainError } from './error-pages.ts';
import { allowedWebOrigins, validateWebOrigins, webOriginsKey } from './web-origins.ts';
import { builtInClients, isBuiltInClientId, loadGrantWithBuiltIns, withBuiltInClients } from './console-client.ts';
import { ClientDirectory } from '../registration/clients.ts';
import type { CookieKeys } from '../lib/cookie-keys.ts';

export type RenderPage = (ctx: KoaContextWithOIDC, name: string, vars: Record<string, unknown>, status?: number) => void;

export interface ProviderDeps {
  config: Config;
  db: Db;
  clock: Clock;
  users: Users;
  gate: Gate;
  jwks: { keys: PrivateJwk[] };
  cookieKeys: CookieKeys;
  render: RenderPage;
  /** Another issuer (the Keycloak realm), with its own endpoint paths and cookie names. */
  issuer?: string;
  routes?: Configuration['routes'];
  cookiePrefix?: string;
  /** Second factors (identity/mfa/). */
  mfa: Mfa;
  /** Writes that commit with one of oidc-provider's stores (./adapter.ts): a registration's reservation. */
  storeWork?: StoreWork;
}

/** Keycloak's endpoint paths under `/realms/<realm>` (SPEC 5, compatibility). */
export const keycloakRoutes: Configuration['routes'] = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  device_authorization: '/protocol/openid-connect/auth/device',
  jwks: '/protocol/openid-connect/certs',
  userinfo: '/protocol/openid-connect/userinfo',
  end_session: '/protocol/openid-connect/logout',
  introspection: '/protocol/openid-connect/token/introspect',
  revocation: '/protocol/openid-connect/revoke',
  registration: '/clients-registrations/openid-connect',
  code_verification: '/device',
};

/** Static client metadata as oidc-provider wants it: Gatehouse's own keys removed. */
export function staticClients(config: Config): ClientMetadata[] {
  return config.clients.map(
    ({ approvers: _approvers, discoverable: _discoverable, approvals: _approvals, requireMfa: _requireMfa, ...metadata }) => metadata as ClientMetadata,
  );
}

/** How many built registered clients a provider keeps (oidc-provider keeps 100; ./internals.ts). */
export const builtClientCacheSize = 5000;

export function createProvider(deps: ProviderDeps): Provider {
  const { config, render } = deps;
  const issuer = deps.issuer ?? config.issuer;
  const cookiePrefix = deps.cookiePrefix ?? 'gh';
  const ttl = (key: keyof Config['ttl']) => parseDurationSeconds(config.ttl[key]);
  const secure = issuer.startsWith('https:');
  const prefix = new URL(issuer).pathname.replace(/\/$/, '');
  // The built-in clients (admin console, people's pages) live at Gatehouse's own issuer only (./console-client.ts).
  const main = issuer === config.issuer;
  const mfa = deps.mfa;
  // Whether a client requires a second factor: static ones from config.yaml, registered ones one read of their record.
  const requireMfa = new ClientDirectory(config, deps.db);

  const configuration: Configuration = {
    adapter: adapterFactory(deps.db, deps.clock, deps.storeWork),
    clients: main ? withBuiltInClients(config, staticClients(config)) : staticClients(config),
    findAccount: findAccountWith(deps.users, deps.gate),
    jwks: deps.jwks as Configuration['jwks'],
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure },
      short: { httpOnly: true, sameSite: 'lax', secure },
      names: { session: `${cookiePrefix}.session`, interaction: `${cookiePrefix}.interaction`, resume: `${cookiePrefix}.resume` },
    },
    claims: {
      // `acr`, `amr` and `auth_time` in every ID token: how the person signed in (identity/mfa/README.md).
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // `acr`: urn:gatehouse:mfa after a second factor, urn:gatehouse:pwd without (identity/mfa/README.md).
    acrValues: [pwdAcr, mfaAcr, papeMultiFactor],
    scopes: ['openid', 'offline_access', 'email', 'profile', ...(main ? [adminScope] : [])],
    // Authorization code only: the implicit and hybrid flows are not offered (OAuth 2.0 Security BCP).
    responseTypes: ['code', 'none'],
    // The Dex-style first-auth parameters travel with the authorization request.
    extraParams: ['acl_token', 'AclToken'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Registration tokens are counted and checked by Gatehouse in front of this endpoint (./registration.ts),
      // which also picks the client id; oidc-provider validates and stores the metadata.
      registration: {
        enabled: config.registration.enabled,
        initialAccessToken: false,
        issueRegistrationAccessToken: true,
        idFactory: (ctx) => (ctx.state as { registration?: { clientId: string } }).registration?.clientId ?? randomId(),
      },
      registrationManagement: { enabled: config.registration.enabled, rotateRegistrationAccessToken: true },
      introspection: {
        enabled: true,
        // Confidential clients (resource servers) may introspect; public clients may not. A token whose
        // client was deleted or is disabled (the adapter no longer finds it) is inactive.
        allowedPolicy: async (ctx, client, token) =>
          client.clientAuthMethod !== 'none' &&
          (token.clientId === client.clientId || (await ctx.oidc.provider.Client.find(String(token.clientId))) !== undefined),
      },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          render(ctx, 'logout', formParts(form));
        },
        postLogoutSuccessSource: async (ctx) => {
          render(ctx, 'logged-out', { clientName: ctx.oidc.client?.clientName });
        },
      },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        // Our pages, in plain words; a code's state is said, an unfinished sign-in can be finished (./device-pages.ts).
        ...deviceFlowPages(render),
      },
    },
    interactions: {
      policy: gatedPolicy(
        deps.gate,
        config.registration.policies.consentRequired
          ? new Set([...config.clients.map((c) => c.client_id), ...builtInClients.map((c) => c.clientId)])
          : undefined,
        { mfa, clientRequiresMfa: (clientId) => (isBuiltInClientId(clientId) ? Promise.resolve(false) : requireMfa.requiresMfa(clientId)) },
      ),
      url: async (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}`,
    },
    // People get plain words; the OAuth code stays in small print (JSON callers get oidc-provider's answer unchanged).
    renderError: async (ctx, out) => {
      const { title, message } = plainError(out.error);
      render(ctx, 'error', { title, message, code: out.error }, ctx.status >= 400 ? ctx.status : 400);
    },
    ...(main ? { loadExistingGrant: loadGrantWithBuiltIns } : {}),
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Browser-based clients may call the token, userinfo, introspection and revocation endpoints from their
    // web origins (./web-origins.ts), with credentials: keycloak-js always sends `credentials: 'include'`, and a
    // browser drops an answer to such a request without Access-Control-Allow-Credentials. Other origins get neither.
    clientBasedCORS: (ctx, origin, client) => {
      const allowed = allowedWebOrigins(client.metadata()).includes(origin);
      if (allowed) ctx.set('Access-Control-Allow-Credentials', 'true');
      return allowed;
    },
    // Keycloak's `webOrigins`, kept on the client (./web-origins.ts).
    extraClientMetadata: {
      properties: [webOriginsKey],
      validator: (_ctx, key, value) => {
        if (key === webOriginsKey) validateWebOrigins(value);
      },
    },
    ttl: {
      AccessToken: ttl('accessToken'),
      ClientCredentials: ttl('clientCredentials'),
      IdToken: ttl('idToken'),
      RefreshToken: ttl('refreshToken'),
      AuthorizationCode: ttl('authorizationCode'),
      DeviceCode: ttl('deviceCode'),
      Session: ttl('session'),
      Interaction: ttl('interaction'),
      Grant: ttl('grant'),
    },
  };

  if (deps.routes) configuration.routes = deps.routes;
  const provider = new Provider(issuer, configuration);
  installDeviceRequestFixes(
    provider,
    {
      base: prefix,
      deviceAuthorization: deps.routes?.device_authorization ?? '/device/auth',
      codeVerification: deps.routes?.code_verification ?? '/device',
    },
    render,
  );
  // Registered apps and devices: each built once per stored metadata, up to builtClientCacheSize of them (oidc-provider keeps 100).
  reuseBuiltClients(provider, storedClientReader(deps.db, deps.clock), builtClientCacheSize);
  provider.proxy = config.trustProxy;
  return provider;
}

/**
 * oidc-provider's default prompts (login, consent) with Gatehouse's `access`
 * prompt between them: at every authorization, a signed-in user without access
 * to this client is shown the gate page instead of being sent back with a code
 * (never for the built-in clients: the admin console's and the people's pages', ./console-client.ts).
 */
export function gatedPolicy(
  gate: Gate,
  staticClientIds?: Set<string>,
  secondFactor?: { mfa: Mfa; clientRequiresMfa: (clientId: string) => Promise<boolean> } | undefined,
): interactionPolicy.Prompt[] {
  const { Prompt, Check, base } = interactionPolicy;
  const policy = base();
  policy.add(
    new Prompt(
      { name: 'access', requestable: false },
      new Check(
        'no_client_access',
        'the user has no access to this client',
        reportingOutages(async (ctx: KoaContextWithOIDC) => {
          const accountId = ctx.oidc.session?.accountId;
          const clientId = ctx.oidc.client?.clientId;
          // The built-in clients need no invitation: the console refuses everyone but admins itself, and
          // anyone with an account may see their own account.
          if (!accountId || !clientId || isBuiltInClientId(clientId) || (await gate.hasAccess(accountId, clientId))) return Check.NO_NEED_TO_PROMPT;
          await gate.recordLapsed(accountId, clientId, 'authorization');
          return Check.REQUEST_PROMPT;
        }),
      ),
    ),
    1,
  );
  // The second factor, between the login and the access check (interactions/mfa.ts).
  if (secondFactor) policy.add(mfaPrompt(secondFactor.mfa, secondFactor.clientRequiresMfa), 1);
  if (staticClientIds) {
    // registration.policies.consentRequired: a registered client shows the consent page at every authorization.
    policy.get('consent')!.checks.add(
      new Check('registered_client_consent', 'registered clients always ask for consent', (ctx) => {
        const clientId = ctx.oidc.client?.clientId;
        if (!clientId || staticClientIds.has(clientId) || ctx.oidc.result?.consent) return Check.NO_NEED_TO_PROMPT;
        return Check.REQUEST_PROMPT;
      }),
    );
  }
  return policy;
}
