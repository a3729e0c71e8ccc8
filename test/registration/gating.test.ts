/**
 * Registered clients and gating (SPEC 3 and 5), on SQLite and PostgreSQL: a
 * registration token made with an ACL token links every application
 * registered with it to that ACL token, so its holders (and nobody else) may
 * use the new client; in auto mode a registered application joins the global
 * token, so anybody admitted may use it. Devices (client_credentials only) get
 * no links. Registered clients ask for consent at every authorization
 * (policies.consentRequired, on by default).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertLocalAccount } from '../../src/db/repos/users.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { count, register, registered, registrationConfig, serviceMetadata, webMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const day = 86_400_000;

/** Client tokens of a client and the ACL tokens they are linked to. */
async function linksOf(server: TestServer, clientId: string): Promise<{ acl_token_id: string; kind: string }[]> {
  return server.gh
    .db('client_token as c')
    .join('acl_token_client_token as l', 'l.client_token_id', 'c.id')
    .join('acl_token as a', 'a.id', 'l.acl_token_id')
    .where('c.client_id', clientId)
    .select('l.acl_token_id', 'a.kind');
}

describe.each(databaseKinds)('registered clients and gating on %s', (kind) => {
  describe('manual mode, a registration token made with an ACL token', () => {
    let db: TestDatabase;
    let server: TestServer;

    beforeAll(async () => {
      db = await createTestDatabase(kind);
      server = await startTestServer(db, {
        clients: [web],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        ...registrationConfig({ initialAccessToken: 'required' }),
      });
    });
    afterAll(async () => {
      await server?.stop();
      await db?.drop();
    });

    it('links a registered application to the ACL token: its holders have access, others do not', async () => {
      const team = await server.gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
      const { token } = await server.gh.registrationTokens.create({ count: 3, expiresAt: Date.now() + day, aclTokenId: team.row.id }, 'test');
      const app = registered(await register(server.url, webMetadata(redirectUri, { client_name: 'Team Tool' }), token));
      const device = registered(await register(server.url, serviceMetadata({ client_name: 'Team Sensor' }), token));

      const password = 'a-long-enough-password-1';
      const holderEmail = `holder-${kind}@example.com`;
      const strangerEmail = `stranger-${kind}@example.com`;
      const holder = await server.gh.users.createLocal({ email: holderEmail, password }, 'test', (trx, user) =>
        server.gh.gate.attachToken(trx, user.id, team.row.id, 'test'),
      );
      const stranger = await server.gh.users.createLocal({ email: strangerEmail, password }, 'test');

      expect(await server.gh.gate.hasAccess(holder.id, app.client_id)).toBe(true);
      expect(await server.gh.gate.hasAccess(holder.id, 'web')).toBe(true);
      expect(await server.gh.gate.hasAccess(stranger.id, app.client_id)).toBe(false);
      expect((await linksOf(server, app.client_id)).map((l) => l.acl_token_id)).toEqual([team.row.id]);
      expect(await linksOf(server, device.client_id)).toEqual([]);
      expect((await server.gh.aclTokens.get(team.row.id)).clients.map((c) => c.client_id).sort()).toEqual([app.client_id, 'web'].sort());

      // Over HTTP: the holder signs in to the new client (consent asked); the stranger, a known user, is stopped.
      const { code, verifier } = await obtainCode(server.url, { clientId: app.client_id, redirectUri, email: holderEmail, password, scope: 'openid email' });
      const tokens = await tokenRequest(
        server.url,
        { client_id: app.client_id, client_secret: app.client_secret },
        { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
      );
      expect(tokens.status).toBe(200);
      const browser = new Browserless();
      const auth = `${server.url}/auth?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
      const start = await browser.request(auth);
      const interaction = new URL(start.headers.get('location')!, server.url).href;
      const login = await browser.request(interaction);
      const refused = await browser.follow(`${interaction}/login`, server.url, { form: { _csrf: csrfOf(await login.text()), email: strangerEmail, password } });
      expect(refused.response.status).toBe(403);
      expect(await refused.response.text()).toContain('No access to Team Tool');
    });

    it('leaves no client token behind when a registration with an ACL token is refused', async () => {
      const team = await server.gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
      const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day, aclTokenId: team.row.id }, 'test');
      const before = { clientTokens: await count(server.gh, 'client_token'), links: await count(server.gh, 'acl_token_client_token') };
      const refused = await register(server.url, webMetadata(redirectUri, { token_endpoint_auth_method: 'bogus' }), token);
      expect(refused.status).toBe(400);
      expect(await count(server.gh, 'client_token')).toBe(before.clientTokens);
      expect(await count(server.gh, 'acl_token_client_token')).toBe(before.links);
      expect((await server.gh.aclTokens.get(team.row.id)).clients.map((c) => c.client_id)).toEqual(['web']);
    });

    it('refuses a registration token for an ACL token that does not exist', async () => {
      const refused = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day, aclTokenId: 'no-such-acl-token' }, 'test').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(GatehouseError);
      expect((refused as GatehouseError).code).toBe('not_found');
    });
  });

  describe('auto mode', () => {
    let db: TestDatabase;
    let server: TestServer;

    beforeAll(async () => {
      db = await createTestDatabase(kind);
      server = await startTestServer(db, {
        clients: [web],
        firstauth: { enable: true, mode: 'auto' },
        ...registrationConfig({ initialAccessToken: 'required' }),
      });
    });
    afterAll(async () => {
      await server?.stop();
      await db?.drop();
    });

    it('links a registered application to the global token, so a user admitted in auto mode may use it, and asks for consent every time', async () => {
      const { token } = await server.gh.registrationTokens.create({ count: 2, expiresAt: Date.now() + day }, 'test');
      const app = registered(await register(server.url, webMetadata(redirectUri, { client_name: 'Auto Tool' }), token));
      const device = registered(await register(server.url, serviceMetadata(), token));
      expect((await linksOf(server, app.client_id)).map((l) => l.kind)).toEqual(['global']);
      expect(await linksOf(server, device.client_id)).toEqual([]);

      // A first login through the registered client admits the person (auto mode) and they may use it.
      const accountId = `auto-${randomBytes(4).toString('hex')}`;
      const email = `${accountId}@example.com`;
      const password = 'auto-mode-password-9';
      await insertLocalAccount(server.gh.db, {
        id: accountId,
        email,
        name: null,
        password_hash: await server.gh.passwords.hash(password),
        email_verified_at: Date.now(),
        created_at: Date.now(),
      });
      const first = await obtainCode(server.url, { clientId: app.client_id, redirectUri, email, password, scope: 'openid' });
      const link = (await server.gh.db('user_idp').where({ connector_id: 'local', subject: accountId }).first()) as { user_id: string };
      expect(await server.gh.gate.hasAccess(link.user_id, app.client_id)).toBe(true);
      expect(await server.gh.gate.hasAccess(link.user_id, 'web')).toBe(true);

      // Same browser, signed in, everything granted before: a registered client still shows the consent page.
      const again = `${server.url}/auth?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
      const step = await first.browser.follow(again, server.url);
      expect(step.url.startsWith(server.url)).toBe(true);
      expect(await step.response.text()).toContain('name="decision"');
      // The static client does not ask again once granted.
      await obtainCode(server.url, { clientId: 'web', redirectUri, email, password, scope: 'openid', browser: first.browser });
      const staticAgain = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
      const staticStep = await first.browser.follow(staticAgain, server.url);
      expect(new URL(staticStep.url).searchParams.get('code')).toEqual(expect.any(String));
    });
  });
});
