/**
 * A client's web origins (Keycloak's `webOrigins`, stored as the client
 * metadata `web_origins`): the browser origins that may call the token,
 * userinfo, introspection and revocation endpoints with credentials, and frame
 * the Keycloak realm's session iframe. `+` stands for the origins of the
 * client's redirect URIs, as in Keycloak. A client without `web_origins`
 * keeps Gatehouse's earlier rule: its redirect URIs' origins (CORS only; the
 * session iframe is framed only for origins a client registered explicitly).
 * `*` is refused: with credentials allowed it would hand any site the token
 * endpoint's answers.
 */
import { errors } from 'oidc-provider';

export const webOriginsKey = 'web_origins';

type Metadata = Record<string, unknown>;

const originOf = (uri: string): string | undefined => {
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
};

const redirectOrigins = (metadata: Metadata): string[] =>
  (Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris.map(String) : []).map(originOf).filter((o): o is string => Boolean(o));

/** The origins a client registered explicitly (`+` expanded), or undefined when it registered none. */
export function explicitWebOrigins(metadata: Metadata): string[] | undefined {
  const listed = metadata[webOriginsKey];
  if (!Array.isArray(listed)) return undefined;
  return [...new Set(listed.flatMap((entry) => (entry === '+' ? redirectOrigins(metadata) : [String(entry)])))];
}

/** The origins allowed to call this client's endpoints from a browser (CORS). */
export function allowedWebOrigins(metadata: Metadata): string[] {
  return explicitWebOrigins(metadata) ?? [...new Set(redirectOrigins(metadata))];
}

/** oidc-provider's extraClientMetadata validator for `web_origins`: a list of `+` and origins. */
export function validateWebOrigins(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw new errors.InvalidClientMetadata(`${webOriginsKey} must be an array of origins`);
  for (const entry of value) {
    if (entry === '+') continue;
    if (typeof entry !== 'string' || originOf(entry) !== entry) {
      throw new errors.InvalidClientMetadata(
        `${webOriginsKey}: ${JSON.stringify(entry)} is not an origin (scheme://host[:port], no path) or "+"; "*" is not accepted`,
      );
    }
  }
}
