/**
 * Nothing lives only in memory: a restarted server keeps sessions, tokens and
 * keys; two servers on one PostgreSQL database behave as one, so a login started
 * on instance A finishes on instance B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, obtainCode, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const raw = { clients: [web, testClients.service] };

describe.each(databaseKinds)('restart survival on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, raw);
    await server.gh.users.createLocal({ email: 'barbara@example.com', password: 'liskov-substitution' }, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('keeps sessions, refresh tokens, access tokens and signing keys across a restart', async () => {
    const { code, verifier, browser } = await obtainCode(server.url, {
      clientId: 'web',
      redirectUri,
      email: 'barbara@example.com',
      password: 'liskov-substitution',
    });
    const tokens = (await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })).body;
    const jwksBefore = await (await fetch(`${server.url}/jwks`)).json();
    const { port } = server;
    // The client's keep-alive sockets to the old server are closed before the port is reused.
    await server.stopForRestart();

    server = await startTestServer(db, raw, { port });
    expect(await (await fetch(`${server.url}/jwks`)).json()).toEqual(jwksBefore);
    const userinfo = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${String(tokens.access_token)}` } });
    expect(userinfo.status).toBe(200);
    const refreshed = await tokenRequest(server.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) });
    expect(refreshed.status).toBe(200);
    // The browser session survived: a new authorization goes straight back with a code, no login page.
    const again = await obtainCode(server.url, { clientId: 'web', redirectUri, email: 'unused', password: 'unused', browser });
    expect(again.code).toBeTruthy();
  });
});

describe.skipIf(!databaseKinds.includes('postgres'))('two instances on one PostgreSQL database', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestServer(db, raw);
    // Behind a load balancer both answer for one issuer.
    b = await startTestServer(db, { ...raw, issuer: a.url });
    await a.gh.users.createLocal({ email: 'edsger@example.com', password: 'goto-considered-harmful' }, 'test');
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await db?.drop();
  });

  it('starts a login on instance A and finishes it on instance B', async () => {
    const onB = (url: string) => url.replace(a.url, `http://127.0.0.1:${b.port}`);
    const browser = new Browserless();
    const { verifier, challenge } = pkcePair();
    const auth = `${a.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid email', redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz' })}`;
    const start = await browser.request(auth);
    expect(start.status).toBe(303);
    const interaction = new URL(start.headers.get('location')!, a.url).href;

    const loginPage = await browser.request(onB(interaction));
    expect(loginPage.status).toBe(200);
    const posted = await browser.request(`${onB(interaction)}/login`, {
      form: { _csrf: csrfOf(await loginPage.text()), email: 'edsger@example.com', password: 'goto-considered-harmful' },
    });
    expect(posted.status).toBe(303);

    let step = await browser.follow(new URL(posted.headers.get('location')!, a.url).href, a.url);
    const consent = await browser.request(onB(step.url));
    const consented = await browser.request(`${onB(step.url)}/consent`, { form: { _csrf: csrfOf(await consent.text()), decision: 'allow' } });
    step = await browser.follow(new URL(consented.headers.get('location')!, a.url).href, a.url);
    const code = new URL(step.url).searchParams.get('code');
    expect(code).toBeTruthy();

    const tokens = await tokenRequest(`http://127.0.0.1:${b.port}`, web, {
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(tokens.status).toBe(200);
    const refreshed = await tokenRequest(a.url, web, { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    expect(refreshed.status).toBe(200);
  });
});
