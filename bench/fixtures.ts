/**
 * What both servers under test are given, so Gatehouse and the baseline are
 * configured alike: the two clients, the bench account, scopes, claims and the
 * token lifetimes (Gatehouse's defaults, read from its config schema).
 */
import { parseDurationSeconds } from '../src/config/duration.ts';
import { configSchema } from '../src/config/schema.ts';

/** The redirect URI is never followed: the browser simulation stops at the 303 that carries the code. */
export const redirectUri = 'http://127.0.0.1:1/cb';

export const webClient = {
  client_id: 'bench-web',
  client_secret: 'bench-web-secret-0123456789abcdef',
  client_name: 'Bench Web',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
} as const;

export const serviceClient = {
  client_id: 'bench-service',
  client_secret: 'bench-service-secret-0123456789abcdef',
  client_name: 'Bench Service',
  redirect_uris: [],
  grant_types: ['client_credentials'],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
} as const;

/** A public device-grant client (RFC 8628): a TV that shows a code and polls the token endpoint. */
export const deviceClient = {
  client_id: 'bench-tv',
  client_name: 'Bench TV',
  redirect_uris: [],
  grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  response_types: [],
  token_endpoint_auth_method: 'none',
} as const;

/** Plain mutable copies, as oidc-provider's ClientMetadata and Gatehouse's config want them. */
export function clientMetadata(): Record<string, unknown>[] {
  return [webClient, serviceClient, deviceClient].map((c) => ({
    ...c,
    redirect_uris: [...c.redirect_uris],
    grant_types: [...c.grant_types],
    response_types: [...c.response_types],
  }));
}

export const benchAccount = { email: 'bench@example.com', password: 'correct horse battery' } as const;

/** First-login workload: account i is first<i>@example.com; the race uses the `raceAccounts` after the timed ones. */
export const firstLoginPassword = 'first login battery staple';
export const firstLoginAccount = (i: number) => ({ email: `first${i}@example.com`, password: firstLoginPassword });
export const raceAccounts = 30;
export const raceMaxUsers = 5;

export const scopes = ['openid', 'offline_access', 'email', 'profile'];
export const claims = { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] };

/** argon2id parameters, the same as src/identity/passwords.ts (OWASP: m=19 MiB, t=2, p=1). */
export const argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** oidc-provider `ttl` values in seconds, from Gatehouse's config defaults. */
export function providerTtl(): Record<string, number> {
  const ttl = configSchema.parse({}).ttl;
  const s = (value: string) => parseDurationSeconds(value);
  return {
    AccessToken: s(ttl.accessToken),
    ClientCredentials: s(ttl.clientCredentials),
    IdToken: s(ttl.idToken),
    RefreshToken: s(ttl.refreshToken),
    AuthorizationCode: s(ttl.authorizationCode),
    DeviceCode: s(ttl.deviceCode),
    Session: s(ttl.session),
    Interaction: s(ttl.interaction),
    Grant: s(ttl.grant),
  };
}

export function basicAuth(client: { client_id: string; client_secret: string }): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
}

/**
 * Dynamic client registration (RFC 7591): what every bench registration sends, a
 * machine client for client_credentials. Gatehouse counts uses of one registration
 * token (`registrationTokenCount` is far more than a run registers); the baseline
 * takes a fixed string as its initial access token.
 */
export const registrationRequest = {
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  client_name: 'bench',
} as const;
export const registrationTokenCount = 100_000;
export const baselineRegistrationToken = 'bench-initial-access-token-0123456789abcdef';
/** Clients the rotating client_credentials workload registers on each server and then takes turns with. */
export const rotatingClientCount = 1000;

/**
 * Device self-enrollment (POST /api/register-device) on the main Gatehouse: the
 * `iss` its device tokens carry, and a per-IP limit far beyond what a run sends
 * (every bench request comes from 127.0.0.1).
 */
export const deviceJwtIssuer = 'bench';
export const deviceRegistrationRateLimit = 100_000_000;
/**
 * Device grant polling: Gatehouse answers `slow_down` to a device code polled
 * faster than this (`security.devicePollInterval`); the bench's pending device
 * codes are many enough that each is polled less often (./workloads/device-polling.ts).
 */
export const devicePollInterval = '1s';
