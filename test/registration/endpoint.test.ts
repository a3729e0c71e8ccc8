/**
 * The registration endpoint (SPEC 5, RFC 7591 / 7592) with registration
 * tokens required, over HTTP, on SQLite and PostgreSQL: openid-client
 * registers a web and a client_credentials client; a refused registration
 * gives its use back; a token's template (grant types, redirect hosts, scope)
 * is enforced and named in the refusal; expired, revoked, unknown and missing
 * tokens are refused with `invalid_token` and say which; reading or updating a
 * client rotates its registration access token; bad bodies are `invalid_request`.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import {
  clientCredentials,
  clientRows,
  count,
  manage,
  recordRows,
  register,
  registered,
  registrationConfig,
  serviceMetadata,
  updateBody,
  usesOf,
  webMetadata,
} from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const day = 86_400_000;

describe.each(databaseKinds)('the registration endpoint on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  /** Moves Gatehouse's clock (registration token expiry) without waiting. */
  let skew = 0;
  const clock: Clock = { now: () => Date.now() + skew };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [testClients.service], ...registrationConfig({ initialAccessToken: 'required' }) }, { clock });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const newToken = (input: Partial<Parameters<TestServer['gh']['registrationTokens']['create']>[0]> = {}) =>
    server.gh.registrationTokens.create({ count: 5, expiresAt: Date.now() + day, ...input }, 'test');

  it('advertises the registration endpoint in discovery', async () => {
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.registration_endpoint).toBe(`${server.url}/reg`);
  });

  it('registers a web client and a client_credentials client with openid-client, and the latter gets a token', async () => {
    const { row, token } = await newToken({ count: 2 });
    const options = { initialAccessToken: token, execute: [client.allowInsecureRequests] };
    const web = await client.dynamicClientRegistration(
      new URL(server.url),
      { redirect_uris: [redirectUri], client_name: 'Registered Web' },
      undefined,
      options,
    );
    const webMeta = web.clientMetadata();
    expect(webMeta.client_id).toEqual(expect.any(String));
    expect(webMeta.client_secret).toEqual(expect.any(String));
    expect(webMeta.redirect_uris).toEqual([redirectUri]);
    expect(webMeta.registration_access_token).toEqual(expect.any(String));
    expect(webMeta.registration_client_uri).toBe(`${server.url}/reg/${webMeta.client_id}`);

    const service = await client.dynamicClientRegistration(
      new URL(server.url),
      {
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        client_name: 'Registered Service',
        token_endpoint_auth_method: 'client_secret_post',
      },
      undefined,
      options,
    );
    const tokens = await client.clientCredentialsGrant(service);
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.token_type.toLowerCase()).toBe('bearer');

    expect(await usesOf(server.gh, row.id)).toBe(2);
    const records = await server.gh.registrar.listRegistered();
    const mine = records.filter((r) => r.registration_token_id === row.id);
    expect(mine.map((r) => [r.client_id, r.kind]).sort()).toEqual(
      [
        [webMeta.client_id, 'application'],
        [service.clientMetadata().client_id, 'device'],
      ].sort(),
    );
    expect(mine.every((r) => r.via === 'rfc7591' && r.disabled_reason === null)).toBe(true);
    expect((await server.gh.registrar.listRegistered('device')).map((r) => r.client_id)).toContain(service.clientMetadata().client_id);

    // The token is used up now: openid-client reports the server's challenge.
    const refused = await client.dynamicClientRegistration(new URL(server.url), { redirect_uris: [redirectUri] }, undefined, options).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    const challenge = (refused as client.WWWAuthenticateChallengeError).cause[0];
    expect(challenge?.scheme).toBe('bearer');
    expect(challenge?.parameters).toMatchObject({
      error: 'invalid_token',
      error_description: 'this registration token has been used up (2 of 2 clients registered)',
    });
  });

  it('refuses a registration token that expires in the past at creation', async () => {
    const refused = await newToken({ expiresAt: Date.now() - 1000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GatehouseError);
    expect((refused as GatehouseError).code).toBe('input.invalid');
    const zero = await newToken({ count: 0 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((zero as GatehouseError).code).toBe('input.invalid');
  });

  it('does not use up the token for a registration oidc-provider refuses, and leaves no client behind', async () => {
    const { row, token } = await newToken({ count: 1 });
    const recordsBefore = await count(server.gh, 'registered_client');
    const clientsBefore = await count(server.gh, 'oidc_model', { kind: 'Client' });
    const clientTokensBefore = await count(server.gh, 'client_token');

    const notAUrl = await register(server.url, { redirect_uris: ['not a url'] }, token);
    expect(notAUrl.status).toBe(400);
    expect(notAUrl.body.error).toBe('invalid_redirect_uri');
    const bogus = await register(server.url, webMetadata(redirectUri, { token_endpoint_auth_method: 'bogus' }), token);
    expect(bogus.status).toBe(400);
    expect(bogus.body.error).toBe('invalid_client_metadata');
    const codeWithoutRedirect = await register(server.url, { grant_types: ['authorization_code'] }, token);
    expect(codeWithoutRedirect.status).toBe(400);

    expect(await usesOf(server.gh, row.id)).toBe(0);
    expect(await count(server.gh, 'registered_client')).toBe(recordsBefore);
    expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(clientsBefore);
    expect(await count(server.gh, 'client_token')).toBe(clientTokensBefore);

    // The one use is still there.
    const ok = registered(await register(server.url, webMetadata(redirectUri), token));
    expect(await usesOf(server.gh, row.id)).toBe(1);
    expect(await recordRows(server.gh, ok.client_id)).toBe(1);
  });

  describe('a registration token template', () => {
    it('refuses a grant type outside it with invalid_client_metadata naming the rule', async () => {
      const { row, token } = await newToken({ template: { grantTypes: ['client_credentials'] } });
      const refused = await register(server.url, webMetadata(redirectUri), token);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect(refused.body.error_description).toMatch(/^registration token template: grant type authorization_code is not allowed/);
      const mixed = await register(server.url, serviceMetadata({ grant_types: ['client_credentials', 'refresh_token'] }), token);
      expect(mixed.status).toBe(400);
      expect(mixed.body.error_description).toContain('registration token template: grant type refresh_token');
      expect(await usesOf(server.gh, row.id)).toBe(0);
      registered(await register(server.url, serviceMetadata(), token));
      expect(await usesOf(server.gh, row.id)).toBe(1);
    });

    it('accepts redirect URIs on an allowed host or its subdomains and refuses others with invalid_redirect_uri naming the rule', async () => {
      const { row, token } = await newToken({ template: { redirectHosts: ['example.com'] } });
      const ok = registered(await register(server.url, webMetadata('https://app.example.com/cb'), token));
      expect(ok.redirect_uris).toEqual(['https://app.example.com/cb']);
      const evil = await register(server.url, webMetadata('https://evil.test/cb'), token);
      expect(evil.status).toBe(400);
      expect(evil.body.error).toBe('invalid_redirect_uri');
      expect(evil.body.error_description).toBe('registration token template: redirect URI https://evil.test/cb is not on an allowed host (example.com)');
      // A look-alike host is not a subdomain.
      const lookAlike = await register(server.url, webMetadata('https://notexample.com/cb'), token);
      expect(lookAlike.body.error).toBe('invalid_redirect_uri');
      // Logout redirects are redirects too.
      const logout = await register(server.url, webMetadata('https://app.example.com/cb', { post_logout_redirect_uris: ['https://evil.test/bye'] }), token);
      expect(logout.body.error).toBe('invalid_redirect_uri');
      expect(logout.body.error_description).toContain('https://evil.test/bye');
      expect(await usesOf(server.gh, row.id)).toBe(1);
    });

    it('refuses a scope outside it and gives a client that asked for none the template scope', async () => {
      const { row, token } = await newToken({ template: { scope: 'openid email' } });
      const refused = await register(server.url, webMetadata(redirectUri, { scope: 'openid profile' }), token);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect(refused.body.error_description).toBe('registration token template: scope profile is not allowed (allowed: openid email)');
      const narrower = registered(await register(server.url, webMetadata(redirectUri, { scope: 'openid' }), token));
      expect(narrower.scope).toBe('openid');
      const defaulted = registered(await register(server.url, webMetadata(redirectUri), token));
      expect(defaulted.scope).toBe('openid email');
      expect((await server.gh.clients.find(defaulted.client_id))?.metadata.scope).toBe('openid email');
      expect(await usesOf(server.gh, row.id)).toBe(2);
    });

    it('keeps an RFC 7592 update inside the template: adding a grant type is refused and changes nothing', async () => {
      const { token } = await newToken({ template: { grantTypes: ['client_credentials'] } });
      const made = registered(await register(server.url, serviceMetadata({ client_name: 'Inside' }), token));
      const read = await manage(made.registration_client_uri, 'GET', made.registration_access_token);
      expect(read.status).toBe(200);
      const rat = String(read.body.registration_access_token);
      const refused = await manage(
        made.registration_client_uri,
        'PUT',
        rat,
        updateBody(read.body, {
          grant_types: ['client_credentials', 'authorization_code'],
          response_types: ['code'],
          redirect_uris: [redirectUri],
        }),
      );
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect(refused.body.error_description).toMatch(/^registration token template: grant type authorization_code is not allowed/);
      expect((await server.gh.clients.find(made.client_id))?.grantTypes).toEqual(['client_credentials']);
      // The refused PUT did not rotate the token: it still works.
      expect((await manage(made.registration_client_uri, 'GET', rat)).status).toBe(200);
    });

    it('checks who is asking before the template: a PUT without a valid registration access token learns nothing of it', async () => {
      const { token } = await newToken({ template: { grantTypes: ['client_credentials'], redirectHosts: ['partner.example'] } });
      const made = registered(await register(server.url, serviceMetadata(), token));
      const other = registered(await register(server.url, serviceMetadata(), token));
      const outside = { client_id: made.client_id, grant_types: ['authorization_code'], redirect_uris: ['https://elsewhere.test/cb'] };
      for (const rat of ['not-a-token', other.registration_access_token]) {
        const refused = await manage(made.registration_client_uri, 'PUT', rat, outside);
        expect(refused.status).toBe(401);
        expect(refused.body.error).toBe('invalid_token');
        expect(refused.text).not.toContain('partner.example');
        expect(refused.text).not.toContain('template');
      }
      const anonymous = await fetch(made.registration_client_uri, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(outside),
      });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).not.toContain('partner.example');
      // The client's own token still works (nothing was rotated by the refusals).
      expect((await manage(made.registration_client_uri, 'GET', made.registration_access_token)).status).toBe(200);
    });

    // KNOWN BUG (reported): an RFC 7592 PUT is checked against the template but the template's defaults are not
    // applied again, so a PUT without `scope` lifts the scope limit. Remove `.fails` once checkUpdate applies them.
    it('keeps a scope template when an RFC 7592 update leaves the scope out', async () => {
      const { token } = await newToken({ template: { scope: 'openid email' } });
      const made = registered(await register(server.url, webMetadata(redirectUri), token));
      expect(made.scope).toBe('openid email');
      const read = await manage(made.registration_client_uri, 'GET', made.registration_access_token);
      const { scope: _scope, ...withoutScope } = updateBody(read.body, { client_name: 'No scope sent' });
      const updated = await manage(made.registration_client_uri, 'PUT', String(read.body.registration_access_token), withoutScope);
      // Either refused, or the template's scope applied again: never a client without the template's limit.
      if (updated.status === 200) expect(updated.body.scope).toBe('openid email');
      else expect(updated.body.error).toBe('invalid_client_metadata');
      expect((await server.gh.clients.find(made.client_id))?.metadata.scope).toBe('openid email');
    });
  });

  describe('refused registration tokens', () => {
    /** A 401 invalid_token with the description in the body and in WWW-Authenticate; returns the description. */
    const expectInvalidToken = (a: Awaited<ReturnType<typeof register>>): string => {
      expect(a.status).toBe(401);
      expect(a.body.error).toBe('invalid_token');
      const description = String(a.body.error_description);
      const challenge = a.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(/^Bearer /);
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toContain('error_description="');
      return description;
    };

    it('refuses an expired, a revoked, an unknown and a missing token, each saying why, and registers nothing', async () => {
      const recordsBefore = await count(server.gh, 'registered_client');
      const expiring = await newToken({ expiresAt: Date.now() + 60_000 });
      const revoked = await newToken();
      await server.gh.registrationTokens.revoke(revoked.row.id, 'test');

      let expired: string;
      skew = 120_000;
      try {
        expired = expectInvalidToken(await register(server.url, webMetadata(redirectUri), expiring.token));
      } finally {
        skew = 0;
      }
      const wasRevoked = expectInvalidToken(await register(server.url, webMetadata(redirectUri), revoked.token));
      const unknown = expectInvalidToken(await register(server.url, webMetadata(redirectUri), `ghr_${'x'.repeat(43)}`));
      const missing = expectInvalidToken(await register(server.url, webMetadata(redirectUri)));
      const tooLong = expectInvalidToken(await register(server.url, webMetadata(redirectUri), 'y'.repeat(5000)));

      expect(expired).toContain('expired');
      expect(wasRevoked).toContain('revoked');
      expect(unknown).toContain('not found');
      expect(missing).toContain('a registration token is required');
      expect(tooLong).toBe(unknown);
      expect(new Set([expired, wasRevoked, unknown, missing]).size).toBe(4);

      expect(await usesOf(server.gh, expiring.row.id)).toBe(0);
      expect(await usesOf(server.gh, revoked.row.id)).toBe(0);
      expect(await count(server.gh, 'registered_client')).toBe(recordsBefore);
      // The same token still works while it has not expired.
      registered(await register(server.url, webMetadata(redirectUri), expiring.token));
    });

    it('refuses a token revoked by another instance a moment after it registered here, saying so, and takes no use', async () => {
      const { row, token } = await newToken();
      registered(await register(server.url, webMetadata(redirectUri), token));
      // Revoked straight in the shared database (another instance, the CLI): this server read the token a moment ago.
      await server.gh.db('registration_token').where({ id: row.id }).update({ revoked_at: Date.now() });
      const recordsBefore = await count(server.gh, 'registered_client');
      expect(expectInvalidToken(await register(server.url, webMetadata(redirectUri), token))).toContain('revoked');
      expect(await usesOf(server.gh, row.id)).toBe(1);
      expect(await count(server.gh, 'registered_client')).toBe(recordsBefore);
    });
  });

  describe('RFC 7592 client configuration', () => {
    it('rotates the registration access token on GET and on PUT, and DELETE removes the client and its record', async () => {
      const { row, token } = await newToken();
      const made = registered(await register(server.url, serviceMetadata({ client_name: 'Managed' }), token));
      expect(made.registration_client_uri).toBe(`${server.url}/reg/${made.client_id}`);

      const read = await manage(made.registration_client_uri, 'GET', made.registration_access_token);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ client_id: made.client_id, client_name: 'Managed', grant_types: ['client_credentials'] });
      const second = String(read.body.registration_access_token);
      expect(second).not.toBe(made.registration_access_token);
      expect(second.length).toBeGreaterThan(20);
      const stale = await manage(made.registration_client_uri, 'GET', made.registration_access_token);
      expect(stale.status).toBe(401);
      expect(stale.body.error).toBe('invalid_token');
      expect((await manage(made.registration_client_uri, 'PUT', made.registration_access_token, updateBody(read.body, { client_name: 'Stolen' }))).status).toBe(
        401,
      );

      const updated = await manage(made.registration_client_uri, 'PUT', second, updateBody(read.body, { client_name: 'Renamed' }));
      expect(updated.status).toBe(200);
      expect(updated.body.client_name).toBe('Renamed');
      const third = String(updated.body.registration_access_token);
      expect(third).not.toBe(second);
      expect((await manage(made.registration_client_uri, 'GET', second)).status).toBe(401);
      expect((await server.gh.clients.find(made.client_id))?.name).toBe('Renamed');
      // The secret still works after the update.
      expect((await clientCredentials(server.url, made.client_id, made.client_secret)).status).toBe(200);

      // Another client's token does not open this one.
      const other = registered(await register(server.url, serviceMetadata(), token));
      expect((await manage(made.registration_client_uri, 'GET', other.registration_access_token)).status).toBe(401);
      expect((await manage(made.registration_client_uri, 'DELETE', other.registration_access_token)).status).toBe(401);

      const fourth = await manage(made.registration_client_uri, 'GET', third);
      expect(fourth.status).toBe(200);
      const deleted = await manage(made.registration_client_uri, 'DELETE', String(fourth.body.registration_access_token));
      expect(deleted.status).toBe(204);
      const after = await clientCredentials(server.url, made.client_id, made.client_secret);
      expect(after.status).toBe(401);
      expect(after.body.error).toBe('invalid_client');
      expect(await clientRows(server.gh, made.client_id)).toBe(0);
      expect(await recordRows(server.gh, made.client_id)).toBe(0);
      expect(await server.gh.registrar.findRecord(made.client_id)).toBeUndefined();
      expect((await server.gh.registrar.listRegistered()).map((r) => r.client_id)).not.toContain(made.client_id);
      // Deleting a client does not give the token's use back.
      expect(await usesOf(server.gh, row.id)).toBe(2);
      const actions = (await server.gh.db('audit_log').where({ subject: made.client_id }).select('action')).map((r: { action: string }) => r.action);
      expect(actions).toEqual(expect.arrayContaining(['client.registered', 'client.deleted']));
    });
  });

  describe('bad input', () => {
    it('answers a body that is not a JSON object, or not JSON at all, with 400 invalid_request and never 500', async () => {
      const { row, token } = await newToken();
      const cases: { name: string; body: string; contentType?: string }[] = [
        { name: 'not JSON', body: '{"redirect_uris": [', contentType: 'application/json' },
        { name: 'a JSON array', body: JSON.stringify([{ redirect_uris: [redirectUri] }]), contentType: 'application/json' },
        { name: 'JSON null', body: 'null', contentType: 'application/json' },
        { name: 'a JSON string', body: '"hello"', contentType: 'application/json' },
        { name: 'an empty body', body: '', contentType: 'application/json' },
        { name: 'a form', body: `redirect_uris=${encodeURIComponent(redirectUri)}`, contentType: 'application/x-www-form-urlencoded' },
        { name: 'text', body: JSON.stringify(webMetadata(redirectUri)), contentType: 'text/plain' },
        { name: 'no content type', body: JSON.stringify(webMetadata(redirectUri)) },
      ];
      for (const c of cases) {
        const a = await register(server.url, undefined, token, { body: c.body, contentType: c.contentType });
        expect(a.status, `${c.name}: ${a.text}`).toBe(400);
        expect(a.body.error, c.name).toBe('invalid_request');
        expect(a.body.error_description, c.name).toEqual(expect.any(String));
      }
      const tooLarge = await register(server.url, undefined, token, {
        body: JSON.stringify({ client_name: 'x'.repeat(60_000) }),
        contentType: 'application/json',
      });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body.error).toBe('invalid_request');
      // Wrong body and no token: either refusal is fine, but not a 500.
      const both = await register(server.url, undefined, undefined, { body: '[]', contentType: 'application/json' });
      expect([400, 401]).toContain(both.status);
      // Metadata of the wrong types is oidc-provider's to refuse, still a 400.
      const wrongTypes = await register(server.url, { redirect_uris: redirectUri, grant_types: 'authorization_code' }, token);
      expect(wrongTypes.status).toBe(400);
      expect(wrongTypes.body.error).toBe('invalid_client_metadata');
      expect(await usesOf(server.gh, row.id)).toBe(0);
    });
  });
});
