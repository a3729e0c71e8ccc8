/**
 * The registration policies (SPEC 5) over HTTP, on SQLite and PostgreSQL:
 * with `initialAccessToken: optional`, anonymous registrations come only from
 * trusted hosts and redirect only to them (a token lifts both); maxClients
 * refuses the registration past the limit; clientDisabled holds new clients
 * until an admin enables them, and a disabled client's tokens stop working.
 * One server per policy set; each refusal names the policy.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { clientCredentials, count, register, registered, registrationConfig, serviceMetadata, webMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const day = 86_400_000;

/** One server for a describe block, on its own database. */
function serverFor(kind: TestDatabase['kind'], raw: Record<string, unknown>): { get: () => TestServer } {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, raw);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });
  return { get: () => server };
}

describe.each(databaseKinds)('registration policies on %s', (kind) => {
  describe('optional token, trustedHosts [127.0.0.1], maxClients 2', () => {
    const s = serverFor(kind, registrationConfig({ initialAccessToken: 'optional', policies: { trustedHosts: ['127.0.0.1'], maxClients: 2 } }));

    it('accepts an anonymous registration from a trusted host redirecting to it, and refuses a redirect to another host', async () => {
      const server = s.get();
      const ok = registered(await register(server.url, webMetadata('http://127.0.0.1/cb', { client_name: 'Anonymous' })));
      expect(ok.redirect_uris).toEqual(['http://127.0.0.1/cb']);
      const record = await server.gh.registrar.findRecord(ok.client_id);
      expect(record).toMatchObject({ registration_token_id: null, kind: 'application', disabled_reason: null });

      const elsewhere = await register(server.url, webMetadata('https://elsewhere.example/cb'));
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.body.error).toBe('invalid_redirect_uri');
      expect(elsewhere.body.error_description).toBe('policy trustedHosts: redirect URI https://elsewhere.example/cb is not on an allowed host (127.0.0.1)');
      const mixed = await register(server.url, { redirect_uris: ['http://127.0.0.1/cb', 'https://elsewhere.example/cb'] });
      expect(mixed.body.error).toBe('invalid_redirect_uri');
      const origins = await register(server.url, webMetadata('http://127.0.0.1/cb', { web_origins: ['+', 'https://elsewhere.example'] }));
      expect(origins.status).toBe(400);
      expect(origins.body).toMatchObject({
        error: 'invalid_client_metadata',
        error_description: 'policy trustedHosts: web origin https://elsewhere.example is not on an allowed host (127.0.0.1)',
      });
      expect(await count(server.gh, 'registered_client')).toBe(1);
    });

    it('refuses the registration past maxClients naming the policy, with or without a token', async () => {
      const server = s.get();
      const { row, token } = await server.gh.registrationTokens.create({ count: 5, expiresAt: Date.now() + day }, 'test');
      // A token lifts trustedHosts (any redirect host) but not maxClients.
      registered(await register(server.url, webMetadata('https://elsewhere.example/cb'), token));
      expect(await count(server.gh, 'registered_client')).toBe(2);
      const anonymous = await register(server.url, serviceMetadata());
      expect(anonymous.status).toBe(400);
      expect(anonymous.body.error).toBe('invalid_client_metadata');
      expect(anonymous.body.error_description).toBe('policy maxClients: the limit of 2 registered clients has been reached');
      const withToken = await register(server.url, serviceMetadata(), token);
      expect(withToken.status).toBe(400);
      expect(withToken.body.error_description).toContain('policy maxClients');
      expect((await server.gh.registrationTokens.get(row.id)).uses).toBe(1);
      expect(await count(server.gh, 'registered_client')).toBe(2);
      expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(2);
    });

    it('still refuses an unknown or used-up token instead of treating the request as anonymous', async () => {
      const server = s.get();
      const unknown = await register(server.url, webMetadata('http://127.0.0.1/cb'), 'ghr_nope');
      expect(unknown.status).toBe(401);
      expect(unknown.body.error).toBe('invalid_token');
    });
  });

  describe('optional token, trustedHosts [10.9.9.9]', () => {
    const s = serverFor(kind, registrationConfig({ initialAccessToken: 'optional', policies: { trustedHosts: ['10.9.9.9'] } }));

    it('refuses an anonymous registration from a host that is not trusted, and accepts the same request with a token', async () => {
      const server = s.get();
      const refused = await register(server.url, webMetadata('http://10.9.9.9/cb'));
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect(refused.body.error_description).toBe('policy trustedHosts: anonymous registration from 127.0.0.1 is not allowed; present a registration token');
      const service = await register(server.url, serviceMetadata());
      expect(service.body.error_description).toContain('policy trustedHosts');
      expect(await count(server.gh, 'registered_client')).toBe(0);

      const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
      registered(await register(server.url, webMetadata('http://10.9.9.9/cb'), token));
    });
  });

  describe('optional token, no trusted hosts', () => {
    const s = serverFor(kind, registrationConfig({ initialAccessToken: 'optional' }));

    it('refuses every anonymous registration, saying no trusted hosts are configured', async () => {
      const server = s.get();
      const refused = await register(server.url, serviceMetadata());
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect(refused.body.error_description).toContain('policy trustedHosts');
    });
  });

  describe('optional token, trustedHosts given by name [localhost]', () => {
    const s = serverFor(kind, registrationConfig({ initialAccessToken: 'optional', policies: { trustedHosts: ['localhost'] } }));

    it('trusts the addresses the name resolves to, and redirect URIs on the name', async () => {
      const server = s.get();
      registered(await register(server.url, webMetadata('http://localhost:8080/cb')));
      const byAddress = await register(server.url, webMetadata('http://127.0.0.1/cb'));
      expect(byAddress.body.error).toBe('invalid_redirect_uri');
      expect(byAddress.body.error_description).toContain('policy trustedHosts');
    });
  });

  describe('clientDisabled: true', () => {
    const s = serverFor(kind, registrationConfig({ initialAccessToken: 'required', policies: { clientDisabled: true } }, { clients: [testClients.service] }));

    /** Set by the first test: an enabled registered client, one of its access tokens and a static client that may introspect. */
    let enabled: { clientId: string; secret: string; accessToken: string; introspector: client.Configuration } | undefined;

    it('holds a new client (no tokens) until an admin enables it, and refuses tokens again once disabled', async () => {
      const server = s.get();
      const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
      const made = registered(await register(server.url, serviceMetadata({ client_name: 'Held' }), token));
      expect(await server.gh.registrar.findRecord(made.client_id)).toMatchObject({ disabled_reason: 'policy', disabled_at: expect.any(Number) });

      const held = await clientCredentials(server.url, made.client_id, made.client_secret);
      expect(held.status).toBe(401);
      expect(held.body.error).toBe('invalid_client');
      // Its own management still works while it is held (RFC 7592).
      const read = await fetch(made.registration_client_uri, { headers: { authorization: `Bearer ${made.registration_access_token}` } });
      expect(read.status).toBe(200);

      const record = await server.gh.registrar.setEnabled(made.client_id, true, 'test');
      expect(record.disabled_reason).toBeNull();
      const ok = await clientCredentials(server.url, made.client_id, made.client_secret);
      expect(ok.status).toBe(200);
      const accessToken = String(ok.body.access_token);
      const introspector = await client.discovery(new URL(server.url), 'service', testClients.service.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      expect((await client.tokenIntrospection(introspector, accessToken)).active).toBe(true);

      enabled = { clientId: made.client_id, secret: made.client_secret, accessToken, introspector };

      await server.gh.registrar.setEnabled(made.client_id, false, 'test');
      expect(await server.gh.registrar.findRecord(made.client_id)).toMatchObject({ disabled_reason: 'admin' });
      expect((await clientCredentials(server.url, made.client_id, made.client_secret)).body.error).toBe('invalid_client');
      const actions = (await server.gh.db('audit_log').where({ subject: made.client_id }).orderBy('id').select('action')).map(
        (r: { action: string }) => r.action,
      );
      expect(actions).toEqual(['client.registered', 'client.enabled', 'client.disabled']);
    });

    it('ends the access tokens of a client an admin disables (introspection says inactive)', async () => {
      expect(enabled).toBeDefined();
      expect((await client.tokenIntrospection(enabled!.introspector, enabled!.accessToken)).active).toBe(false);
    });
  });
});
