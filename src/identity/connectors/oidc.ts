/**
 * The `oidc` connector: federation with an upstream OpenID provider (like Dex's
 * oidc connector). Authorization code + PKCE, state and nonce checked by
 * openid-client; the upstream `sub` is the subject.
 */
import * as client from 'openid-client';
import { GatehouseError } from '../../errors.ts';
import type { Identity } from '../identity.ts';
import { upstreamAmr } from '../mfa/amr.ts';

export interface OidcConnectorOptions {
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
}

/** What must survive the round trip to the upstream provider (kept in a signed cookie). */
export interface UpstreamState {
  state: string;
  nonce: string;
  verifier: string;
}

export class OidcConnector {
  readonly type = 'oidc';
  private discovered: Promise<client.Configuration> | undefined;

  constructor(readonly options: OidcConnectorOptions) {}

  get id(): string {
    return this.options.id;
  }

  get name(): string {
    return this.options.name;
  }

  /** `fresh`: the person must sign in again (Gatehouse's `prompt=login` or `max_age`): the upstream is asked for `prompt=login` too. */
  async start(redirectUri: string, options: { fresh?: boolean } = {}): Promise<{ url: string; saved: UpstreamState }> {
    const config = await this.configuration();
    const saved = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.options.scopes.join(' '),
      state: saved.state,
      nonce: saved.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(saved.verifier),
      code_challenge_method: 'S256',
      ...(options.fresh ? { prompt: 'login' } : {}),
    });
    return { url: url.href, saved };
  }

  async finish(callbackUrl: URL, redirectUri: string, saved: UpstreamState): Promise<Identity> {
    const config = await this.configuration();
    try {
      const tokens = await client.authorizationCodeGrant(
        config,
        callbackUrl,
        {
          pkceCodeVerifier: saved.verifier,
          expectedState: saved.state,
          expectedNonce: saved.nonce,
          idTokenExpected: true,
        },
        { redirect_uri: redirectUri },
      );
      const claims = tokens.claims();
      if (!claims) throw new GatehouseError('auth.upstream_failed', `Signing in with ${this.name} failed: it sent no ID token.`);
      let email = typeof claims.email === 'string' ? claims.email : undefined;
      let name = typeof claims.name === 'string' ? claims.name : undefined;
      let verified = claims.email_verified === true;
      if ((!email || !name) && tokens.access_token) {
        const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        email ??= typeof info.email === 'string' ? info.email : undefined;
        name ??= typeof info.name === 'string' ? info.name : undefined;
        verified ||= info.email_verified === true;
      }
      // How the upstream signed the person in (RFC 8176 names only): a second factor there counts here (identity/mfa/amr.ts).
      const amr = upstreamAmr(claims.amr, claims.acr);
      return { connectorId: this.id, subject: claims.sub, email, emailVerified: verified, name, amr };
    } catch (err) {
      if (err instanceof GatehouseError) throw err;
      // openid-client's own message is generic ("invalid response encountered"); the check
      // that failed (state, issuer, nonce...) is in `cause`, and nothing else records it.
      const reason = err instanceof Error ? err.message : String(err);
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
      throw new GatehouseError('auth.upstream_failed', `Signing in with ${this.name} failed: ${cause && cause !== reason ? `${reason} (${cause})` : reason}`);
    }
  }

  private configuration(): Promise<client.Configuration> {
    this.discovered ??= client
      .discovery(new URL(this.options.issuer), this.options.clientId, this.options.clientSecret, undefined, {
        execute: new URL(this.options.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [],
      })
      .catch((err: unknown) => {
        this.discovered = undefined;
        throw new GatehouseError('auth.upstream_failed', `${this.name} cannot be reached right now (${err instanceof Error ? err.message : String(err)}).`);
      });
    return this.discovered;
  }
}

export type Connector = import('./local.ts').LocalConnector | OidcConnector;
