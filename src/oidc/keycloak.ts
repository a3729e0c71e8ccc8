/**
 * Keycloak compatibility (`compat.keycloak.realm`): the realm is a second
 * issuer, `<issuer>/realms/<realm>`, served by a second oidc-provider instance
 * on the same database, keys and accounts, with Keycloak's endpoint paths
 * (provider.ts `keycloakRoutes`). Its OIDC registration endpoint is
 * `/clients-registrations/openid-connect`; this module adds Keycloak's own
 * client representation at `/clients-registrations/default[/CLIENT_ID]`,
 * translated to and from RFC 7591 metadata, so the requests in Keycloak's
 * Client Registration docs work unchanged.
 */
import type { Context, Middleware } from 'koa';
import type { Registrar } from '../registration/registrar.ts';
import type { Metadata } from '../registration/rules.ts';
import { webOriginsKey } from './web-origins.ts';
import type { StatusTable } from './oauth-errors.ts';
import { answerOAuthError, asRegistrationError, readJsonObject, replayJson, type RegistrationOverrides } from './registration.ts';

const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
const defaultPath = '/clients-registrations/default';
const oidcPath = '/clients-registrations/openid-connect';

const isTrue = (value: unknown) => value === true || value === 'true';
const strings = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.map(String) : undefined);

/**
 * Keycloak ClientRepresentation -> RFC 7591 metadata, with Keycloak's defaults:
 * the standard flow (authorization code, refresh) is on unless
 * `standardFlowEnabled: false`, and a client is confidential (a secret) unless
 * `publicClient: true`. So `{ "clientId": "myclient" }` is a confidential
 * standard-flow client, as in Keycloak.
 *
 * oidc-provider cannot store the code grant without a redirect URI (it needs
 * `response_types: ["code"]`, which needs one), and Keycloak's client cannot
 * complete an authorization without one either. Such a client is stored with
 * the refresh grant alone and no response types; `toKeycloak` reads "refresh
 * without any grant that issues refresh tokens" as the standard flow waiting for
 * its redirect URIs, and the update that adds them turns the code grant on.
 */
export function fromKeycloak(rep: Metadata): Metadata {
  const redirectUris = strings(rep.redirectUris) ?? [];
  const attributes = (typeof rep.attributes === 'object' && rep.attributes !== null ? rep.attributes : {}) as Record<string, unknown>;
  const standardFlow = rep.standardFlowEnabled !== false;
  const grants: string[] = [];
  if (standardFlow) grants.push(...(redirectUris.length ? ['authorization_code', 'refresh_token'] : ['refresh_token']));
  if (isTrue(rep.serviceAccountsEnabled)) grants.push('client_credentials');
  if (isTrue(attributes['oauth2.device.authorization.grant.enabled'])) grants.push(deviceGrant);
  const metadata: Metadata = {
    grant_types: grants,
    response_types: grants.includes('authorization_code') ? ['code'] : [],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: isTrue(rep.publicClient) ? 'none' : 'client_secret_basic',
  };
  const webOrigins = strings(rep.webOrigins);
  if (webOrigins) metadata[webOriginsKey] = webOrigins;
  if (typeof rep.name === 'string' && rep.name) metadata.client_name = rep.name;
  if (typeof rep.baseUrl === 'string' && rep.baseUrl) metadata.client_uri = rep.baseUrl;
  else if (typeof rep.rootUrl === 'string' && rep.rootUrl) metadata.client_uri = rep.rootUrl;
  if (typeof rep.secret === 'string' && rep.secret) metadata.client_secret = rep.secret;
  const logoutUris = attributes['post.logout.redirect.uris'];
  if (typeof logoutUris === 'string' && logoutUris) metadata.post_logout_redirect_uris = logoutUris.split('##').filter(Boolean);
  return metadata;
}

/** RFC 7591 metadata (as oidc-provider answers it) -> Keycloak ClientRepresentation. */
export function toKeycloak(metadata: Metadata, enabled: boolean, consentRequired = false): Metadata {
  const grants = strings(metadata.grant_types) ?? [];
  // See fromKeycloak: refresh alone is the standard flow waiting for redirect URIs.
  const awaitingRedirects = grants.includes('refresh_token') && !grants.includes(deviceGrant) && !(strings(metadata.redirect_uris) ?? []).length;
  const rep: Metadata = {
    id: metadata.client_id,
    clientId: metadata.client_id,
    enabled,
    clientAuthenticatorType: 'client-secret',
    redirectUris: strings(metadata.redirect_uris) ?? [],
    webOrigins: strings(metadata[webOriginsKey]) ?? [],
    bearerOnly: false,
    consentRequired,
    standardFlowEnabled: grants.includes('authorization_code') || awaitingRedirects,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: grants.includes('client_credentials'),
    publicClient: metadata.token_endpoint_auth_method === 'none',
    frontchannelLogout: false,
    protocol: 'openid-connect',
    attributes: {
      'oauth2.device.authorization.grant.enabled': String(grants.includes(deviceGrant)),
      'post.logout.redirect.uris': (strings(metadata.post_logout_redirect_uris) ?? []).join('##'),
    },
  };
  if (metadata.client_name) rep.name = metadata.client_name;
  if (metadata.client_uri) rep.baseUrl = metadata.client_uri;
  if (metadata.client_secret) rep.secret = metadata.client_secret;
  if (metadata.registration_access_token) rep.registrationAccessToken = metadata.registration_access_token;
  return rep;
}

/**
 * `/clients-registrations/default[/CLIENT_ID]`: translates the request into the
 * realm's OIDC registration endpoint (where the registration guard and
 * oidc-provider handle it) and the answer back.
 */
export function keycloakClientRepresentation(registrar: Registrar, consentRequired: boolean, statuses: StatusTable): Middleware {
  return async (ctx: Context, next) => {
    if (ctx.path !== defaultPath && !ctx.path.startsWith(`${defaultPath}/`)) return next();
    const clientId = ctx.path.length > defaultPath.length + 1 ? decodeURIComponent(ctx.path.slice(defaultPath.length + 1)) : undefined;
    try {
      if (ctx.method === 'POST' || ctx.method === 'PUT') {
        const rep = await readJsonObject(ctx);
        const metadata = fromKeycloak(rep);
        if (ctx.method === 'PUT') metadata.client_id = clientId;
        else
          ctx.state.registrationOverrides = {
            via: 'keycloak',
            clientId: typeof rep.clientId === 'string' && rep.clientId ? rep.clientId : undefined,
          } satisfies RegistrationOverrides;
        replayJson(ctx, metadata);
      }
      ctx.path = clientId ? `${oidcPath}/${encodeURIComponent(clientId)}` : oidcPath;
      await next();
      if ((ctx.status === 200 || ctx.status === 201) && ctx.body && typeof ctx.body === 'object') {
        const body = ctx.body as Metadata;
        const record = await registrar.findRecord(String(body.client_id));
        ctx.body = toKeycloak(body, !record?.disabled_reason, consentRequired);
      }
    } catch (err) {
      const refused = asRegistrationError(err, statuses);
      if (!refused) throw err;
      answerOAuthError(ctx, refused.status, refused.error, refused.description);
    }
  };
}
