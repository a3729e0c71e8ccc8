/**
 * What may be registered: a registration token's template (grant types,
 * redirect URI hosts, scopes) and the configured policies (trusted hosts).
 * Pure functions over RFC 7591 metadata; a refusal names the rule, because the
 * person reading `error_description` has to fix their request from it alone.
 */
import { GatehouseError } from '../errors.ts';

export interface RegistrationTemplate {
  grantTypes?: string[] | undefined;
  redirectHosts?: string[] | undefined;
  scope?: string | undefined;
}

export type Metadata = Record<string, unknown>;

const metadataError = (description: string) => new GatehouseError('registration.invalid_client_metadata', description);
const redirectError = (description: string) => new GatehouseError('registration.invalid_redirect_uri', description);

/** RFC 7591 §2: grant_types defaults to authorization_code. */
export function grantTypesOf(metadata: Metadata): string[] {
  return Array.isArray(metadata.grant_types) ? metadata.grant_types.map(String) : ['authorization_code'];
}

function redirectUrisOf(metadata: Metadata): string[] {
  const uris = [metadata.redirect_uris, metadata.post_logout_redirect_uris].flatMap((v) => (Array.isArray(v) ? v.map(String) : []));
  return uris;
}

/** `host` is `allowed` or a subdomain of it. */
export function hostMatches(host: string, allowed: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  const a = allowed.toLowerCase();
  // `*.example.com`: subdomains only; `example.com`: itself and its subdomains.
  if (a.startsWith('*.')) return h.endsWith(a.slice(1));
  return h === a || h.endsWith(`.${a}`);
}

function checkRedirectHosts(metadata: Metadata, allowed: string[], rule: string): void {
  // Web origins (Keycloak `webOrigins`) get CORS with credentials and may frame the realm's session iframe:
  // the rule that bounds where a client redirects bounds them too (`+` is the redirect URIs, checked below).
  const webOrigins = Array.isArray(metadata.web_origins) ? metadata.web_origins.map(String).filter((o) => o !== '+') : [];
  for (const origin of webOrigins) {
    const host = URL.parse(origin)?.hostname;
    if (!host || !allowed.some((a) => hostMatches(host, a))) {
      throw metadataError(`${rule}: web origin ${origin} is not on an allowed host (${allowed.join(', ')})`);
    }
  }
  for (const uri of redirectUrisOf(metadata)) {
    let host: string;
    try {
      host = new URL(uri).hostname;
    } catch {
      throw redirectError(`${uri} is not a valid URL`);
    }
    if (!allowed.some((a) => hostMatches(host, a))) {
      throw redirectError(`${rule}: redirect URI ${uri} is not on an allowed host (${allowed.join(', ')})`);
    }
  }
}

/** Refuses metadata outside a registration token's template. */
export function checkTemplate(metadata: Metadata, template: RegistrationTemplate | null): void {
  if (!template) return;
  if (template.grantTypes?.length) {
    const outside = grantTypesOf(metadata).filter((g) => !template.grantTypes!.includes(g));
    if (outside.length) {
      throw metadataError(`registration token template: grant type ${outside.join(', ')} is not allowed (allowed: ${template.grantTypes.join(', ')})`);
    }
  }
  if (template.redirectHosts?.length) checkRedirectHosts(metadata, template.redirectHosts, 'registration token template');
  if (template.scope) {
    const allowed = template.scope.split(/\s+/);
    const asked = typeof metadata.scope === 'string' ? metadata.scope.split(/\s+/).filter(Boolean) : [];
    const outside = asked.filter((s) => !allowed.includes(s));
    if (outside.length) throw metadataError(`registration token template: scope ${outside.join(' ')} is not allowed (allowed: ${template.scope})`);
  }
}

/** Metadata as oidc-provider gets it, on registration and on update: the native-app rule, then the redirect defaults. */
export function normalizeMetadata(metadata: Metadata): Metadata {
  return withoutRedirectDefaults(asNativeByShape(metadata));
}

/**
 * A client that asks only for grants without a browser redirect (e.g.
 * `{"grant_types": ["client_credentials"]}`, as Keycloak clients and device
 * agents send it) gets no response types and no redirect URIs, instead of
 * RFC 7591's default `response_types: ["code"]`, which would make it an
 * authorization-code client that lacks its redirect URIs.
 */
function withoutRedirectDefaults(metadata: Metadata): Metadata {
  const grants = metadata.grant_types;
  if (!Array.isArray(grants) || grants.some((g) => g === 'authorization_code' || g === 'implicit')) return metadata;
  return {
    ...metadata,
    ...(metadata.response_types === undefined ? { response_types: [] } : {}),
    ...(metadata.redirect_uris === undefined ? { redirect_uris: [] } : {}),
  };
}

/** RFC 8252 §7.3: http on a loopback interface (oidc-provider's loopback names). */
function isLoopbackRedirect(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}

/**
 * RFC 8252 §7.1: a private-use URI scheme in reverse-DNS form (so it has a
 * dot, e.g. `edu.kit.data.oidc-agent:/redirect`). The dot keeps out every
 * scheme a browser gives a meaning to (`javascript:`, `data:`, `file:`...).
 */
function isPrivateUseRedirect(url: URL): boolean {
  return url.protocol.includes('.') && url.protocol !== 'http:' && url.protocol !== 'https:';
}

/**
 * The native-app rule (RFC 8252). A registration whose redirect URIs are all
 * loopback http URIs or private-use schemes, with at least one private-use
 * scheme among them, is a native application, whatever `application_type` it
 * sends: oidc-agent, like many desktop tools, sends `"web"` (or nothing, which
 * means web) beside `edu.kit.data.oidc-agent:/redirect`, and Keycloak takes it.
 * Only registrations that would be refused as web are re-read: a web client can
 * never have a private-use scheme, so every registration valid before keeps its
 * type and its exact redirect matching (a loopback-only web client stays web).
 * Any other shape (claimed https beside a custom scheme, http off loopback, a
 * scheme without a dot) is left as sent, and oidc-provider refuses it as before.
 */
export function asNativeByShape(metadata: Metadata): Metadata {
  if (metadata.application_type === 'native') return metadata;
  const uris = redirectUrisOf(metadata).map((uri) => URL.parse(uri));
  if (uris.length === 0 || uris.some((url) => !url || !(isLoopbackRedirect(url) || isPrivateUseRedirect(url)))) return metadata;
  if (!uris.some((url) => url && isPrivateUseRedirect(url))) return metadata;
  return { ...metadata, application_type: 'native' };
}

/** What the template adds when the request leaves it out: a client registered under a scope template is limited to it. */
export function applyTemplateDefaults(metadata: Metadata, template: RegistrationTemplate | null): Metadata {
  if (template?.scope && typeof metadata.scope !== 'string') return { ...metadata, scope: template.scope };
  return metadata;
}

/** Policy trustedHosts, second half: an anonymous registration may only redirect to trusted hosts. */
export function checkTrustedRedirects(metadata: Metadata, trustedHosts: string[]): void {
  if (trustedHosts.length === 0) throw metadataError('policy trustedHosts: anonymous registration is not allowed here (no trusted hosts are configured)');
  checkRedirectHosts(metadata, trustedHosts, 'policy trustedHosts');
}

/** A device is a client that only ever gets tokens for itself. */
export function isDeviceMetadata(metadata: Metadata): boolean {
  const grants = grantTypesOf(metadata);
  return grants.length > 0 && grants.every((g) => g === 'client_credentials');
}

export function parseTemplate(json: string | null): RegistrationTemplate | null {
  return json ? (JSON.parse(json) as RegistrationTemplate) : null;
}
