/**
 * The native-app rule (RFC 8252) at both registration endpoints, Gatehouse's
 * `/reg` and the Keycloak realm's `clients-registrations/openid-connect`: a
 * registration whose redirect URIs are loopback http URIs and private-use
 * (reverse-DNS) schemes, with at least one such scheme, is a native
 * application whatever `application_type` it sends (oidc-agent sends "web");
 * every other shape is refused as before, and a loopback-only web client stays
 * web. At the authorization endpoint a native client's loopback redirect may
 * use any port (RFC 8252 §7.3); everything else still matches exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { pkcePair } from '../helpers/http-login.ts';
import { manage, realmRegistrationConfig, updateBody } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const realmName = 'master';

/** What oidc-gen 4.2.6 (Debian's oidc-agent) sends with `--flow=device`, byte for byte but the random port. */
const oidcAgentRegistration = {
  application_type: 'web',
  client_name: 'oidc-agent:gatehouse-test',
  response_types: [],
  grant_types: ['refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  scope: 'openid profile email offline_access',
  redirect_uris: ['http://localhost:4242', 'http://localhost:12428', 'http://localhost:8080', 'edu.kit.data.oidc-agent:/redirect'],
};

/** The same with `--flow=code`: it then asks for the authorization code grant. */
const oidcAgentCodeRegistration = { ...oidcAgentRegistration, response_types: ['code'], grant_types: ['refresh_token', 'authorization_code'] };

const webOnly = 'redirect_uris must only contain web uris';
const refused: [string, Record<string, unknown>, string][] = [
  ['a private-use scheme beside a claimed https URI (a web shape)', { redirect_uris: ['https://app.example.com/cb', 'com.example.app:/cb'] }, webOnly],
  ['a private-use scheme beside http off loopback', { redirect_uris: ['http://app.example.com/cb', 'com.example.app:/cb'] }, webOnly],
  [
    'a private-use scheme beside http on a host that only starts with localhost',
    { redirect_uris: ['http://localhost.evil.example/cb', 'com.example.app:/cb'] },
    webOnly,
  ],
  ['javascript: beside loopback', { application_type: 'web', redirect_uris: ['http://127.0.0.1:8080/cb', 'javascript:alert(document.domain)'] }, webOnly],
  ['data: beside a private-use scheme', { redirect_uris: ['com.example.app:/cb', 'data:text/html,<script>alert(1)</script>'] }, webOnly],
  ['a custom scheme without a dot (not reverse-DNS)', { redirect_uris: ['myapp:/cb'] }, webOnly],
  [
    'javascript: in a declared native application',
    { application_type: 'native', redirect_uris: ['com.example.app:/cb', 'javascript:alert(1)'] },
    'redirect_uris must not use the javascript URI scheme',
  ],
  [
    'http off loopback in a declared native application',
    { application_type: 'native', redirect_uris: ['http://app.example.com/cb'] },
    'redirect_uris for native clients using http as a protocol can only use loopback addresses as hostnames',
  ],
];

describe('the native-app redirect rule', () => {
  let db: TestDatabase;
  let server: TestServer;
  let token: string;
  const endpoints: Record<string, { registration: string; authorization: string }> = {};

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, realmRegistrationConfig(realmName));
    token = (await server.gh.registrationTokens.create({ count: 100, expiresAt: Date.now() + 3_600_000 }, 'test')).token;
    for (const [name, issuer] of [
      ['issuer', server.url],
      ['realm', `${server.url}/realms/${realmName}`],
    ] as const) {
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
      endpoints[name] = { registration: discovery.registration_endpoint!, authorization: discovery.authorization_endpoint! };
    }
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const register = async (where: string, metadata: Record<string, unknown>, bearer = token) => {
    const response = await fetch(endpoints[where]!.registration, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify(metadata),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const authorize = (where: string, clientId: string, redirectUri: string) => {
    const url = new URL(endpoints[where]!.authorization);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirectUri,
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
      state: 's',
    }).toString();
    return fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  };
  /** 303 to the sign-in interaction: the redirect URI was accepted. 400 without a Location: refused, no redirect. */
  const outcome = async (response: Response) => {
    await response.body?.cancel();
    if (response.status === 303 && /\/interaction\//.test(response.headers.get('location') ?? '')) return 'accepted';
    if (response.status === 400 && response.headers.get('location') === null) return 'refused';
    return `unexpected ${response.status} ${response.headers.get('location')}`;
  };

  describe.each(['issuer', 'realm'])('at the %s registration endpoint', (where) => {
    it("accepts oidc-agent's registration (application_type web, loopback and edu.kit.data.oidc-agent:/redirect) as a native application", async () => {
      const answer = await register(where, oidcAgentRegistration);
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body).toMatchObject({
        application_type: 'native',
        redirect_uris: oidcAgentRegistration.redirect_uris,
        grant_types: oidcAgentRegistration.grant_types,
      });
    });

    it('accepts a private-use scheme alone, with no application_type, as a native application', async () => {
      const answer = await register(where, { redirect_uris: ['com.example.app:/oauth2redirect'] });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body.application_type).toBe('native');
    });

    it('keeps the rule on update: oidc-agent sending application_type web again stays native', async () => {
      const created = await register(where, oidcAgentRegistration);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const updated = await manage(
        String(created.body.registration_client_uri),
        'PUT',
        String(created.body.registration_access_token),
        updateBody(created.body, { application_type: 'web' }),
      );
      expect(updated.status, updated.text).toBe(200);
      expect(updated.body).toMatchObject({ application_type: 'native', redirect_uris: oidcAgentRegistration.redirect_uris });
    });

    it('refuses a private-use scheme under a --redirect-host template, naming the rule', async () => {
      const limited = await server.gh.registrationTokens.create(
        { count: 1, expiresAt: Date.now() + 3_600_000, template: { redirectHosts: ['localhost'] } },
        'test',
      );
      const answer = await register(where, oidcAgentRegistration, limited.token);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: 'invalid_redirect_uri',
        error_description: 'registration token template: redirect URI edu.kit.data.oidc-agent:/redirect is not on an allowed host (localhost)',
      });
    });

    it('keeps a loopback-only registration a web client', async () => {
      const answer = await register(where, { redirect_uris: ['http://127.0.0.1:9/cb', 'http://localhost:9/cb'] });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body.application_type).toBe('web');
    });

    it.each(refused)('refuses %s with invalid_redirect_uri', async (_shape, metadata, description) => {
      const answer = await register(where, metadata);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ error: 'invalid_redirect_uri', error_description: description });
    });

    it('lets a native client use any port on its loopback redirect URI and matches everything else exactly', async () => {
      const native = await register(where, oidcAgentCodeRegistration);
      expect(native.status, JSON.stringify(native.body)).toBe(201);
      const id = String(native.body.client_id);
      const cases: [string, string][] = [
        ['http://localhost:8080', 'accepted'],
        ['http://localhost:51234', 'accepted'],
        ['edu.kit.data.oidc-agent:/redirect', 'accepted'],
        ['http://localhost:51234/elsewhere', 'refused'],
        ['http://127.0.0.1:8080', 'refused'],
        ['https://localhost:8080', 'refused'],
        ['edu.kit.data.oidc-agent:/redirect/', 'refused'],
        ['edu.kit.data.oidc-agent://redirect', 'refused'],
        ['edu.kit.data.oidc-agent.evil:/redirect', 'refused'],
      ];
      for (const [redirectUri, expected] of cases)
        expect([redirectUri, await outcome(await authorize(where, id, redirectUri))]).toEqual([redirectUri, expected]);

      const web = await register(where, { redirect_uris: ['http://127.0.0.1:9/cb'] });
      expect(web.status, JSON.stringify(web.body)).toBe(201);
      expect(await outcome(await authorize(where, String(web.body.client_id), 'http://127.0.0.1:9/cb'))).toBe('accepted');
      expect(await outcome(await authorize(where, String(web.body.client_id), 'http://127.0.0.1:10/cb'))).toBe('refused');
    });
  });
});
