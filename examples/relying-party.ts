/**
 * A sample relying party (an "app" that signs people in through Gatehouse),
 * built on openid-client: authorization code + PKCE, state and nonce. The README
 * walks through it (`npm run example-rp`), and the browser tests use it as the
 * real client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';

export interface RelyingPartyOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  port?: number;
  host?: string;
  scope?: string;
  /** Extra authorization request parameters (e.g. acl_token). */
  extraParams?: Record<string, string>;
}

export interface SignedIn {
  claims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  tokens: { access_token: string; refresh_token?: string | undefined; id_token?: string | undefined };
}

export interface RelyingParty {
  url: string;
  redirectUri: string;
  /** Every completed sign-in, newest last. */
  signIns: SignedIn[];
  /** Wait until the server knows the provider (it may start before Gatehouse). */
  connect(issuer?: string): Promise<client.Configuration>;
  stop(): Promise<void>;
}

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`;
const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startRelyingParty(options: RelyingPartyOptions): Promise<RelyingParty> {
  const pending = new Map<string, { verifier: string; nonce: string }>();
  const signIns: SignedIn[] = [];
  let config: client.Configuration | undefined;
  let issuer = options.issuer;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in failed', `<p id="error">${escape(err instanceof Error ? err.message : String(err))}</p>`));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const redirectUri = `${url}/callback`;

  async function connect(newIssuer?: string): Promise<client.Configuration> {
    if (newIssuer) {
      issuer = newIssuer;
      config = undefined;
    }
    config ??= await client.discovery(new URL(issuer), options.clientId, options.clientSecret, undefined, {
      execute: issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
    });
    return config;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const here = new URL(req.url ?? '/', url);
    if (here.pathname === '/login') {
      const cfg = await connect();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      pending.set(state, { verifier, nonce });
      const target = client.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: options.scope ?? 'openid email profile',
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...options.extraParams,
        ...Object.fromEntries(here.searchParams),
      });
      res.writeHead(302, { location: target.href }).end();
      return;
    }
    if (here.pathname === '/callback') {
      const cfg = await connect();
      const state = here.searchParams.get('state') ?? '';
      const saved = pending.get(state);
      if (here.searchParams.has('error')) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          page(
            'Sign-in refused',
            `<p id="error">${escape(here.searchParams.get('error') ?? '')}: ${escape(here.searchParams.get('error_description') ?? '')}</p>`,
          ),
        );
        return;
      }
      if (!saved) throw new Error('unknown state');
      pending.delete(state);
      const tokens = await client.authorizationCodeGrant(cfg, here, {
        pkceCodeVerifier: saved.verifier,
        expectedState: state,
        expectedNonce: saved.nonce,
        idTokenExpected: true,
      });
      const claims: Record<string, unknown> = { ...tokens.claims() };
      const userinfo = await client.fetchUserInfo(cfg, tokens.access_token, String(claims.sub));
      signIns.push({
        claims,
        userinfo: { ...userinfo },
        tokens: { access_token: tokens.access_token, refresh_token: tokens.refresh_token, id_token: tokens.id_token },
      });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        page(
          'Signed in',
          `<p>Hello <strong id="who">${escape(String(userinfo.email ?? claims.sub))}</strong>.</p><pre id="claims">${escape(JSON.stringify(claims, null, 2))}</pre><p><a href="/login">Sign in again</a></p>`,
        ),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page('Demo App', '<p><a href="/login">Sign in with Gatehouse</a></p>'));
  }

  return {
    url,
    redirectUri,
    signIns,
    connect,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Run directly: `npm run example-rp` (matches the `demo` client in config.yaml).
if (import.meta.url === `file://${process.argv[1]}`) {
  const rp = await startRelyingParty({
    issuer: process.env.ISSUER ?? 'http://127.0.0.1:3000',
    clientId: process.env.CLIENT_ID ?? 'demo',
    clientSecret: process.env.CLIENT_SECRET ?? 'demo-secret-change-me',
    port: Number(process.env.PORT ?? 8080),
  });
  process.stdout.write(`Demo app running at ${rp.url} — open it and click "Sign in with Gatehouse"\n`);
}
