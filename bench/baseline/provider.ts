/**
 * The baseline: a bare oidc-provider with its default in-memory adapter (or,
 * for the durable baseline, a minimal SQLite one: ./durable-adapter.ts),
 * configured like Gatehouse's src/oidc/provider.ts (same clients, features,
 * scopes, claims, response types, refresh rotation, TTLs, cookie keys and key
 * types), so the ratio measures what Gatehouse adds, not a different protocol setup.
 * Dynamic registration takes oidc-provider's own string initial access token
 * (Gatehouse counts uses of its tokens in front of the same endpoint); registered
 * clients and device codes are kept in Maps (./adapter.ts explains why).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { Provider, type Account, type Adapter, type ClientMetadata, type Configuration } from 'oidc-provider';
import { baselineRegistrationToken, claims, clientMetadata, providerTtl, scopes } from '../fixtures.ts';
import { baselineAdapter } from './adapter.ts';

export const baselineAccountId = 'bench-user';

/** RS256 (2048 bits) and ES256, as Gatehouse's src/oidc/keys.ts makes them. */
async function signingKeys(): Promise<JWK[]> {
  return Promise.all(
    (['RS256', 'ES256'] as const).map(async (alg) => {
      const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
      return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg, use: 'sig' };
    }),
  );
}

/** `adapter`: the durable baseline's (./durable-adapter.ts); without it, the in-memory one (./adapter.ts). */
export async function createBaselineProvider(issuer: string, email: string, adapter?: (model: string) => Adapter): Promise<Provider> {
  const configuration: Configuration = {
    adapter: adapter ?? baselineAdapter(),
    clients: clientMetadata() as ClientMetadata[],
    jwks: { keys: await signingKeys() },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    findAccount: async (_ctx, sub): Promise<Account | undefined> =>
      sub === baselineAccountId ? { accountId: sub, claims: () => ({ sub, email, email_verified: true }) } : undefined,
    claims,
    scopes,
    responseTypes: ['code', 'none'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true, initialAccessToken: baselineRegistrationToken, issueRegistrationAccessToken: true },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none' },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****' },
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: providerTtl(),
  };
  return new Provider(issuer, configuration);
}
