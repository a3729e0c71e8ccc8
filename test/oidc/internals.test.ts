/**
 * Every reach past oidc-provider's public API (src/oidc/internals.ts), run
 * against the installed oidc-provider: an upgrade that moves one of them fails
 * here, loudly and by name, rather than somewhere in a flow.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { PollingPace } from '../../src/oidc/device-polling.ts';
import {
  builtClientCache,
  currentRoute,
  issueRegistrationAccessToken,
  normalizeUserCode,
  publishedJwks,
  reopenDeviceCode,
  replaceKeystore,
  replaceRequestBody,
  signLikeIdToken,
} from '../../src/oidc/internals.ts';
import { builtClientCacheSize, createProvider } from '../../src/oidc/provider.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode } from '../helpers/http-login.ts';
import { buildConfig, startTestServer, testClients } from '../helpers/server.ts';
import { CookieKeys } from '../../src/lib/cookie-keys.ts';

const packageJson = path.join(path.dirname(createRequire(import.meta.url).resolve('oidc-provider')), '..', 'package.json');
const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

interface Rendered {
  name: string;
  vars: Record<string, unknown>;
  route: string | undefined;
}

describe(`oidc-provider ${version} internals that Gatehouse reaches into`, () => {
  let db: TestDatabase;
  let gh: Gatehouse;
  let provider: Provider;
  let rendered: Rendered[];
  const agent = () => request(provider.callback());

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    const config = buildConfig(
      { issuer: 'http://127.0.0.1:9', clients: [testClients.tv], registration: { enabled: true, initialAccessToken: 'optional' } },
      db,
    );
    gh = createGatehouse(config, { logger: createLogger('silent') });
    await migrateLatest(gh.db);
    await gh.keys.ensure();
    gh.cookieKeys = new CookieKeys(await gh.keys.cookieKeys());
    rendered = [];
    const render = (ctx: KoaContextWithOIDC, name: string, vars: Record<string, unknown>, status = 200) => {
      rendered.push({ name, vars, route: currentRoute() });
      ctx.status = status;
      ctx.body = name;
    };
    provider = createProvider({
      config,
      db: gh.db,
      clock: gh.clock,
      users: gh.users,
      gate: gh.gate,
      mfa: gh.mfa,
      jwks: await gh.keys.jwks(),
      cookieKeys: gh.cookieKeys,
      render,
    });
  });

  afterAll(async () => {
    await gh?.close();
    await db?.drop();
  });

  async function deviceAuthorization(): Promise<{ device_code: string; user_code: string }> {
    const res = await agent().post('/device/auth').type('form').send({ client_id: 'tv', scope: 'openid' });
    expect(res.status).toBe(200);
    return res.body as { device_code: string; user_code: string };
  }

  it(`keeps ${builtClientCacheSize} built registered clients, each rebuilt only when its stored metadata changes`, async () => {
    const registered = await agent()
      .post('/reg')
      .send({ redirect_uris: ['https://app.example/cb'], client_name: 'Cached' });
    expect(registered.status).toBe(201);
    const clientId = registered.body.client_id as string;
    const first = await provider.Client.find(clientId);
    expect(first?.clientName).toBe('Cached');
    expect(await provider.Client.find(clientId)).toBe(first);
    // oidc-provider's own 100 would have dropped it after 200 more entries; ours keeps it.
    const cache = builtClientCache(provider);
    for (let i = 0; i < builtClientCacheSize - 2; i += 1) cache.set(`filler-${i}`, {});
    expect(await provider.Client.find(clientId)).toBe(first);
    // Changed in the database (by RFC 7592, the console or another instance): the next find builds the new one.
    const updated = await agent()
      .put(`/reg/${clientId}`)
      .set('authorization', `Bearer ${registered.body.registration_access_token as string}`)
      .send({ client_id: clientId, redirect_uris: ['https://app.example/cb'], client_name: 'Renamed' });
    expect(updated.status).toBe(200);
    const second = await provider.Client.find(clientId);
    expect(second).not.toBe(first);
    expect(second?.clientName).toBe('Renamed');
    expect(await provider.Client.find(clientId)).toBe(second);
    // Gone from the database: not found, though it is still in the cache.
    expect(
      (
        await agent()
          .delete(`/reg/${clientId}`)
          .set('authorization', `Bearer ${updated.body.registration_access_token as string}`)
      ).status,
    ).toBe(204);
    expect(await provider.Client.find(clientId)).toBeUndefined();
  });

  it('runs the wrapped device_code grant handler at the token endpoint (a second fast poll gets slow_down)', async () => {
    const pace = new PollingPace(gh.limiterStore, { intervalSec: 5 });
    pace.install(provider);
    const { device_code } = await deviceAuthorization();
    const poll = () => agent().post('/token').type('form').send({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code, client_id: 'tv' });
    expect((await poll()).body.error).toBe('authorization_pending');
    expect((await poll()).body.error).toBe('slow_down');
  });

  it('finds the action and xsrf of the device code form it generates, inside its route', async () => {
    rendered.length = 0;
    expect((await agent().get('/device')).status).toBe(200);
    const device = rendered.find((page) => page.name === 'device-input');
    expect(device?.vars).toMatchObject({ action: expect.stringMatching(/\/device$/), xsrf: expect.stringMatching(/^\S{16,}$/) });
    // The route name the adapter reads to tell RFC 7592 management from other uses of a client.
    expect(device?.route).toBe('code_verification');
  });

  it('finds the action and xsrf of the logout form it generates for a signed-in person', async () => {
    const server = await startTestServer(db, { clients: [web] });
    try {
      await server.gh.users.createLocal({ email: 'ada@example.com', password: 'analytical-engine' }, 'test');
      const { browser } = await obtainCode(server.url, { clientId: 'web', redirectUri, email: 'ada@example.com', password: 'analytical-engine' });
      const page = await browser.request(`${server.url}/session/end`);
      expect(page.status).toBe(200);
      const form = /<form method="post" action="([^"]*)">\s*<input type="hidden" name="xsrf" value="([^"]*)">/.exec(await page.text());
      expect(form?.[1]).toBe(`${server.url}/session/end/confirm`);
      expect(form?.[2]).toMatch(/^\S{16,}$/);
    } finally {
      await server.stop();
    }
  });

  it('finds a device code by a user code typed in lower case with its dash, and reopens a confirmed one', async () => {
    const { user_code } = await deviceAuthorization();
    const code = await provider.DeviceCode.findByUserCode(normalizeUserCode(user_code.toLowerCase()));
    expect(code?.userCode).toBe(user_code.replace('-', ''));
    (code as unknown as { inFlight?: boolean }).inFlight = true;
    await code!.save();
    const confirmed = await provider.DeviceCode.find(code!.jti);
    expect((confirmed as unknown as { inFlight?: boolean }).inFlight).toBe(true);
    await reopenDeviceCode(confirmed!);
    expect(((await provider.DeviceCode.find(code!.jti)) as unknown as { inFlight?: boolean }).inFlight).toBeUndefined();
  });

  it('issues a registration access token that it then finds for the client', async () => {
    const token = await issueRegistrationAccessToken(provider, { clientId: 'tv' });
    expect((await provider.RegistrationAccessToken.find(token))?.clientId).toBe('tv');
  });

  it('signs an envelope like an ID token, verifiable against the published keys', async () => {
    const client = await provider.Client.find('tv');
    const exp = Math.floor(Date.now() / 1000) + 300;
    const jwt = await signLikeIdToken(provider, client!, { sub: 'user-1', typ: 'Bearer', jti: 'handle-1' }, exp);
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(publishedJwks(provider) as { keys: [] }), { issuer: provider.issuer, audience: 'tv' });
    expect(payload).toMatchObject({ sub: 'user-1', typ: 'Bearer', jti: 'handle-1', exp });
  });

  it('replaces the keystore that /jwks answers from', async () => {
    const before = publishedJwks(provider);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'internals-test', alg: 'ES256', use: 'sig' };
    const current = await gh.keys.jwks();
    replaceKeystore(provider, { keys: [...current.keys, jwk] });
    expect(publishedJwks(provider)).not.toBe(before);
    const res = await agent().get('/jwks');
    expect((res.body.keys as { kid: string }[]).map((k) => k.kid)).toContain('internals-test');
  });

  it('parses a request body put in place of the one that was read', async () => {
    provider.use(async (ctx, next) => {
      if (ctx.path === '/device/auth' && ctx.get('x-replace') === 'yes') {
        for await (const _chunk of ctx.req) {
          /* consumed, as a reader in front does */
        }
        replaceRequestBody(ctx, [Buffer.from('client_id=tv&scope=openid')], { contentType: 'application/x-www-form-urlencoded' });
      }
      await next();
    });
    const res = await agent().post('/device/auth').set('x-replace', 'yes').type('form').send({ client_id: 'nobody' });
    expect(res.status).toBe(200);
    expect(res.body.device_code).toEqual(expect.any(String));
  });
});
