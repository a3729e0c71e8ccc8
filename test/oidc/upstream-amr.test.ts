/**
 * An upstream OpenID provider's `amr` at Gatehouse (issue 15), over HTTP, on
 * SQLite and PostgreSQL. The upstream is a bare oidc-provider whose sign-in
 * finishes at once with the `amr` (and `acr`) the test sets; Gatehouse lists
 * it as the `oidc` connector "Corp SSO". An upstream that asserts a second
 * factor (`pwd` + `otp`) satisfies a `requireMfa` client with no local step;
 * the ID token (checked by openid-client) says `fed` plus the upstream's
 * registered names. An upstream with a password only leads to Gatehouse's own
 * step (enrollment for someone without a factor, the code page after).
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertsSecondFactor, upstreamAmr } from '../../src/identity/mfa/amr.ts';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const strict = { ...testClients.web, client_id: 'strict', client_name: 'Strict App', redirect_uris: [redirectUri], requireMfa: true };
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const upstreamSecret = 'downstream-secret-0123456789';

describe('which upstream amr values count as a second factor', () => {
  it('keeps RFC 8176 names only, once each, and adds mfa for a multi-factor acr', () => {
    expect(upstreamAmr(['pwd', 'otp', 'pwd', 'magic', 7], undefined)).toEqual(['pwd', 'otp']);
    expect(upstreamAmr(undefined, 'urn:gatehouse:mfa')).toEqual(['mfa']);
    expect(upstreamAmr('pwd', 'urn:other')).toEqual([]);
  });
  it('counts mfa, or two kinds of factor; one kind or a bare method is not enough', () => {
    expect(assertsSecondFactor(['fed', 'pwd', 'otp'])).toBe(true);
    expect(assertsSecondFactor(['fed', 'hwk', 'user'])).toBe(true);
    expect(assertsSecondFactor(['fed', 'mfa'])).toBe(true);
    expect(assertsSecondFactor(['fed', 'pwd', 'fpt'])).toBe(true);
    expect(assertsSecondFactor(['fed', 'pwd'])).toBe(false);
    expect(assertsSecondFactor(['fed', 'pwd', 'kba'])).toBe(false);
    expect(assertsSecondFactor(['fed', 'otp', 'sms'])).toBe(false);
    expect(assertsSecondFactor(['fed', 'pwd', 'rba', 'geo'])).toBe(false);
  });
});

interface Upstream {
  issuer: string;
  /** What the next upstream sign-in says. */
  next: { sub: string; amr: string[]; acr?: string };
  stop(): Promise<void>;
}

/** A bare oidc-provider on 127.0.0.1 whose sign-in and consent finish at once, with `next`'s amr and acr. */
async function startUpstream(downstreamRedirect: string): Promise<Upstream> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: Upstream = { issuer, next: { sub: 'corp-1', amr: ['pwd'] }, stop: () => new Promise((r) => server.close(() => r())) };
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'downstream', client_secret: upstreamSecret, redirect_uris: [downstreamRedirect], grant_types: ['authorization_code'] }],
    cookies: { keys: ['upstream-test-cookie-key-0123456789'] },
    // A key of its own (no development keys, no warning).
    jwks: {
      keys: [
        { ...(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as object), kid: 'upstream', use: 'sig', alg: 'RS256' },
      ],
    },
    claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name'] },
    acrValues: ['urn:corp:pwd', 'urn:gatehouse:mfa'],
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, email: `${sub}@corp.example`, email_verified: true, name: `Corp ${sub}` }),
    }),
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
    if (!match) {
      void callback(req, res);
      return;
    }
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        const { sub, amr, acr } = state.next;
        await provider.interactionFinished(req, res, { login: { accountId: sub, amr, ...(acr ? { acr } : {}) } }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    })().catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  return state;
}

describe.each(databaseKinds)('an upstream provider asserting a second factor on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let upstream: Upstream;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    // The upstream's redirect URI names Gatehouse's port, so Gatehouse starts first (its connector discovers lazily).
    const port = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    upstream = await startUpstream(`http://127.0.0.1:${port}/connectors/corp/callback`);
    server = await startTestServer(
      db,
      {
        clients: [strict, web],
        connectors: [
          { id: 'local', type: 'local', name: 'Email' },
          {
            id: 'corp',
            type: 'oidc',
            name: 'Corp SSO',
            issuer: upstream.issuer,
            clientId: 'downstream',
            clientSecret: upstreamSecret,
            scopes: ['openid', 'email', 'profile'],
          },
        ],
      },
      { clock, port },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.stop();
    await db?.drop();
  });

  /** Authorization at Gatehouse for `strict`, through Corp SSO; the pages Gatehouse showed, and the ID token's claims as openid-client checked them. */
  async function signInThroughCorp(
    answer: (html: string, url: string, csrf: string, browser: Browserless) => Promise<{ response: Response; url: string } | undefined> | undefined,
    app: { client: typeof strict | typeof web; extra?: Record<string, string> } = { client: strict },
  ) {
    const browser = new Browserless();
    const upstreamBrowser = new Browserless();
    const { verifier, challenge } = pkcePair();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const auth = new URL(`${server.url}/auth`);
    auth.search = new URLSearchParams({
      client_id: app.client.client_id,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid email',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...app.extra,
    }).toString();
    const pages: string[] = [];
    let step = await browser.follow(auth.href, server.url);
    for (let i = 0; i < 8 && step.url.startsWith(server.url); i += 1) {
      const html = await step.response.text();
      expect(step.response.status, html.slice(0, 400)).toBe(200);
      const csrf = csrfOf(html);
      if (html.includes('name="password"')) {
        pages.push('login');
        const href = /href="([^"]+\/connector\/corp)"/.exec(html)![1]!;
        const out = await browser.follow(new URL(href, server.url).href, server.url);
        expect(out.url.startsWith(upstream.issuer)).toBe(true);
        // The upstream, in a cookie jar of its own (the same host, the same oidc-provider cookie names).
        const back = await upstreamBrowser.follow(out.url, upstream.issuer);
        expect(back.url.startsWith(`${server.url}/connectors/corp/callback`), back.url).toBe(true);
        step = await browser.follow(back.url, server.url);
      } else if (html.includes('name="decision"')) {
        pages.push('consent');
        step = await browser.follow(`${step.url}/consent`, server.url, { form: { _csrf: csrf, decision: 'allow' } });
      } else {
        const name = html.includes('/mfa/enroll"') ? 'enroll' : html.includes('Code from your authenticator app') ? 'totp' : 'other';
        pages.push(name);
        const next = await answer(html, step.url, csrf, browser);
        if (!next) break;
        step = next;
      }
    }
    if (step.url.startsWith(server.url)) return { pages };
    const config = await client.discovery(new URL(server.url), app.client.client_id, app.client.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.authorizationCodeGrant(config, new URL(step.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { pages, claims: tokens.claims()! };
  }

  it('upstream amr [pwd, otp]: a requireMfa client gets its code with no local step; amr fed, pwd, otp and acr mfa', async () => {
    upstream.next = { sub: `strong-${kind}`, amr: ['pwd', 'otp', 'not-registered'] };
    const out = await signInThroughCorp(() => undefined);
    expect(out.pages).toEqual(['login', 'consent']);
    expect(out.claims).toBeDefined();
    expect(out.claims!.amr).toEqual(['fed', 'pwd', 'otp']);
    expect(out.claims!.acr).toBe('urn:gatehouse:mfa');
    const user = (await server.gh.users.list()).find((u) => u.email === `strong-${kind}@corp.example`)!;
    expect(out.claims!.sub).toBe(user.id);
    expect(await server.gh.mfa.hasFactor(user.id)).toBe(false);
  });

  it('upstream acr urn:gatehouse:mfa (another Gatehouse) counts too: amr gets mfa', async () => {
    upstream.next = { sub: `acr-${kind}`, amr: ['pwd'], acr: 'urn:gatehouse:mfa' };
    const out = await signInThroughCorp(() => undefined);
    expect(out.pages).toEqual(['login', 'consent']);
    expect(out.claims!.amr).toEqual(['fed', 'pwd', 'mfa']);
    expect(out.claims!.acr).toBe('urn:gatehouse:mfa');
  });

  it('upstream amr [pwd]: the client asks for a local second factor (enrollment first, the code page next time)', async () => {
    const sub = `weak-${kind}`;
    upstream.next = { sub, amr: ['pwd'] };
    let secret = '';
    const nextCode = async () => {
      skew += 60_000;
      return totpCode(secret, timeStep(clock.now()));
    };
    // Stops at the step-up page: no code reaches the client without it.
    const stopped = await signInThroughCorp(() => undefined);
    expect(stopped.pages).toEqual(['login', 'enroll']);
    expect(stopped.claims).toBeUndefined();

    // The same person enrolls there and goes on: amr fed, pwd, otp.
    const enrolled = await signInThroughCorp(async (html, url, csrf, current) => {
      if (html.includes('/mfa/enroll"')) {
        secret = /id="totp-secret">([^<]+)</.exec(html)![1]!.replace(/\s+/g, '');
        const factor = /name="factor" value="([^"]+)"/.exec(html)![1]!;
        return current.follow(`${url}/mfa/enroll`, server.url, { form: { _csrf: csrf, factor, code: await nextCode() } });
      }
      if (html.includes('Save your recovery codes')) {
        const next = /class="button primary" href="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
        return current.follow(new URL(next, server.url).href, server.url);
      }
      if (html.includes('Code from your authenticator app')) return current.follow(`${url}/mfa`, server.url, { form: { _csrf: csrf, code: await nextCode() } });
      return undefined;
    });
    expect(enrolled.pages.slice(0, 2)).toEqual(['login', 'enroll']);
    expect(enrolled.claims!.amr).toEqual(['fed', 'pwd', 'otp']);
    expect(enrolled.claims!.acr).toBe('urn:gatehouse:mfa');

    const again = await signInThroughCorp(async (html, url, csrf, current) =>
      html.includes('Code from your authenticator app')
        ? current.follow(`${url}/mfa`, server.url, { form: { _csrf: csrf, code: await nextCode() } })
        : undefined,
    );
    expect(again.pages).toEqual(['login', 'totp', 'consent']);
    expect(again.claims!.amr).toEqual(['fed', 'pwd', 'otp']);
  });

  it('acr_values=urn:gatehouse:mfa: an upstream second factor answers it; a password alone is stepped up here', async () => {
    const extra = { acr_values: 'urn:gatehouse:mfa' };
    upstream.next = { sub: `acr-values-strong-${kind}`, amr: ['pwd', 'hwk'] };
    const strong = await signInThroughCorp(() => undefined, { client: web, extra });
    expect(strong.pages).toEqual(['login', 'consent']);
    expect(strong.claims).toMatchObject({ amr: ['fed', 'pwd', 'hwk'], acr: 'urn:gatehouse:mfa' });

    upstream.next = { sub: `acr-values-weak-${kind}`, amr: ['pwd'] };
    const weak = await signInThroughCorp(() => undefined, { client: web, extra });
    expect(weak.pages).toEqual(['login', 'enroll']);
    // Without acr_values the same client asks nothing more: amr fed, pwd; acr pwd.
    const plain = await signInThroughCorp(() => undefined, { client: web });
    expect(plain.pages).toEqual(['login', 'consent']);
    expect(plain.claims).toMatchObject({ amr: ['fed', 'pwd'], acr: 'urn:gatehouse:pwd' });
  });
});
