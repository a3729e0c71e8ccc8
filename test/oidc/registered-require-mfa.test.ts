/**
 * `requireMfa` for registered clients (issue 15), on SQLite and PostgreSQL:
 * set through the admin API (`PUT /clients/:id/require-mfa`: shown in show and
 * list for static and registered clients, static refused with a 400 naming
 * config.yaml, an unknown id 404, a body that is not a boolean 400, every
 * change audited `client.require_mfa_set`), the CLI (`gatehouse client
 * set-require-mfa ID true|false --json`, anything else exit 64) and the
 * console's client page (CSRF checked; static: read-only). End to end with
 * openid-client as the relying party and TOTP codes computed here with
 * otplib: while on, a password-only session gets no code, neither a fresh one
 * nor one that signed in before it was turned on, until the person sets up
 * and gives a second factor (the ID token's `amr` then has `otp`, `acr` is
 * urn:gatehouse:mfa); turned off, a password-only person gets through again.
 */
import * as client from 'openid-client';
import { generateSync } from 'otplib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliTimeouts, databaseYaml, writeWorkspace, type CliWorkspace } from '../cli/gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from '../cli/in-process.ts';
import { postAccountForm } from '../helpers/account-login.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { signInToConsole } from '../helpers/console-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { register, registered, registrationConfig, webMetadata, type Registered } from '../helpers/registration.ts';
import { testClients } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const redirectUri = 'http://127.0.0.1:9/cb';
const password = 'a-long-password-1';
const day = 86_400_000;
const insecure = { execute: [client.allowInsecureRequests] };
const strictStatic = { ...testClients.web, client_id: 'strict', client_name: 'Strict App', redirect_uris: [redirectUri], requireMfa: true };
const plainStatic = { ...testClients.web, redirect_uris: [redirectUri] };

/** What one authorization went through, and (when a code came back) the ID token's claims. */
interface Outcome {
  pages: string[];
  claims?: Record<string, unknown>;
  /** Where the browser stopped when no code came back. */
  stoppedAt?: string;
  secret?: string;
}

describe.each(databaseKinds)('requireMfa for registered clients on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  let ws: CliWorkspace;
  let issuer: string;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };
  let counter = 0;
  const raw = {
    connectors: [{ id: 'local', type: 'local', name: 'Email' }],
    clients: [plainStatic, strictStatic],
    admins: ['root@example.com'],
    ...registrationConfig({ initialAccessToken: 'required' }),
  };
  const cli = (args: string[]) => runInProcess(['--config', ws.configPath, ...args]);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, raw, { clock });
    issuer = api.server.url;
    await api.server.gh.users.createLocal({ email: 'root@example.com', password }, 'test');
    ws = writeWorkspace(
      db,
      [`issuer: ${issuer}`, `database: ${databaseYaml(db)}`, `clients: ${JSON.stringify(raw.clients)}`, 'log: { level: warn }', ''].join('\n'),
    );
  });
  afterAll(async () => {
    ws?.cleanup();
    await api?.stop();
    await db?.drop();
  });

  async function registerApp(name: string): Promise<Registered> {
    const { token } = await api.server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day }, 'test');
    return registered(await register(issuer, webMetadata(redirectUri, { client_name: name }), token));
  }

  async function newUser(): Promise<string> {
    counter += 1;
    const email = `rmfa-${kind}-${counter}@example.com`;
    await api.server.gh.users.createLocal({ email, name: 'R', password }, 'test');
    return email;
  }

  /** A TOTP code of a fresh step: the server's clock moves on a minute, the code is otplib's for that time. */
  const nextCode = (secret: string) => {
    skew += 60_000;
    return generateSync({ secret, epoch: Math.floor(clock.now() / 1000), period: 30, digits: 6, algorithm: 'sha1' });
  };

  /**
   * One authorization by openid-client for `app`: the password when asked, a
   * second factor only when `secondFactor` (enrollment, or the code of
   * `secret`), consent; the code redeemed by openid-client for the ID token.
   */
  async function signIn(
    app: Registered,
    opts: { email: string; browser?: Browserless; secondFactor?: boolean; secret?: string },
  ): Promise<Outcome & { browser: Browserless }> {
    const browser = opts.browser ?? new Browserless();
    const config = await client.discovery(new URL(issuer), app.client_id, app.client_secret, undefined, insecure);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const auth = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const out: Outcome = { pages: [] };
    let secret = opts.secret;
    let step = await browser.follow(auth.href, issuer);
    for (let i = 0; i < 8 && step.url.startsWith(issuer); i += 1) {
      const html = await step.response.text();
      expect(step.response.status, html.slice(0, 400)).toBe(200);
      const csrf = csrfOf(html);
      const uidPath = step.url.replace(/\/mfa(\/[a-z-]+)?$/, '');
      if (html.includes('name="password"')) {
        out.pages.push('login');
        step = await browser.follow(`${uidPath}/login`, issuer, { form: { _csrf: csrf, email: opts.email, password } });
      } else if (html.includes('/mfa/enroll"')) {
        out.pages.push('enroll');
        if (!opts.secondFactor) return { ...out, stoppedAt: step.url, browser };
        secret = /id="totp-secret">([^<]+)</.exec(html)![1]!.replace(/\s+/g, '');
        out.secret = secret;
        const factor = /name="factor" value="([^"]+)"/.exec(html)![1]!;
        step = await browser.follow(`${uidPath}/mfa/enroll`, issuer, { form: { _csrf: csrf, factor, code: nextCode(secret) } });
      } else if (html.includes('Save your recovery codes')) {
        out.pages.push('recovery-codes');
        const next = /class="button primary" href="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
        step = await browser.follow(new URL(next, issuer).href, issuer);
      } else if (html.includes('Code from your authenticator app')) {
        out.pages.push('totp');
        if (!opts.secondFactor) return { ...out, stoppedAt: step.url, browser };
        step = await browser.follow(`${uidPath}/mfa`, issuer, { form: { _csrf: csrf, code: nextCode(secret!) } });
      } else if (html.includes('name="decision"')) {
        out.pages.push('consent');
        step = await browser.follow(`${uidPath}/consent`, issuer, { form: { _csrf: csrf, decision: 'allow' } });
      } else {
        throw new Error(`unexpected page at ${step.url}: ${html.slice(0, 600)}`);
      }
    }
    expect(step.url.startsWith(redirectUri), step.url).toBe(true);
    const tokens = await client.authorizationCodeGrant(config, new URL(step.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { ...out, claims: tokens.claims() as Record<string, unknown>, browser };
  }

  it('sets and shows requireMfa through the admin API; static clients refused, unknown 404, bad body 400, audited', async () => {
    const app = await registerApp('API App');
    const shown = await api.call('GET', `/clients/${app.client_id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: app.client_id, source: 'registered', requireMfa: false });
    expect((await api.call('GET', '/clients/strict')).body).toMatchObject({ source: 'static', requireMfa: true });
    const plain = await api.call('GET', '/clients/web');
    expect(plain.body.requireMfa).toBe(false);
    // Gatehouse's own key is not client metadata.
    expect((await api.call('GET', '/clients/strict')).body.metadata).not.toHaveProperty('requireMfa');

    const on = await api.call('PUT', `/clients/${app.client_id}/require-mfa`, { body: { requireMfa: true } });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ id: app.client_id, source: 'registered', requireMfa: true });
    expect((await api.call('GET', `/clients/${app.client_id}`)).body.requireMfa).toBe(true);
    const listed = (await api.call('GET', '/clients?limit=200')).body.items as { id: string; requireMfa: boolean }[];
    expect(listed.find((c) => c.id === app.client_id)?.requireMfa).toBe(true);
    expect(listed.find((c) => c.id === 'strict')?.requireMfa).toBe(true);
    expect(listed.find((c) => c.id === 'web')?.requireMfa).toBe(false);

    const refused = await api.call('PUT', '/clients/strict/require-mfa', { body: { requireMfa: false } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('input.invalid');
    expect(refused.body.error_description ?? refused.body.message).toMatch(/strict is a static client.*config\.yaml \(clients\[\]\.requireMfa\)/);
    expect((await api.call('GET', '/clients/strict')).body.requireMfa).toBe(true);
    expect((await api.call('PUT', '/clients/nope/require-mfa', { body: { requireMfa: true } })).status).toBe(404);
    for (const body of [{ requireMfa: 'yes' }, {}, { requireMfa: 1 }]) {
      const bad = await api.call('PUT', `/clients/${app.client_id}/require-mfa`, { body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error).toBe('input.invalid');
    }
    expect((await api.call('GET', `/clients/${app.client_id}`)).body.requireMfa).toBe(true);

    const off = await api.call('PUT', `/clients/${app.client_id}/require-mfa`, { body: { requireMfa: false } });
    expect(off.body.requireMfa).toBe(false);
    const audit = await api.server.gh.db('audit_log').where({ action: 'client.require_mfa_set', subject: app.client_id }).orderBy('id');
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual(['key:tests', 'key:tests']);
    expect(audit.map((a: { details: string }) => JSON.parse(a.details))).toEqual([{ requireMfa: true }, { requireMfa: false }]);
  });

  it('gatehouse client set-require-mfa ID true|false --json; anything else and static clients refused', async () => {
    const app = await registerApp('CLI App');
    const on = await cli(['client', 'set-require-mfa', app.client_id, 'true', '--json']);
    expect(on.code, on.stderr).toBe(0);
    expect(parsed<{ id: string; requireMfa: boolean }>(on)).toMatchObject({ id: app.client_id, requireMfa: true });
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(true);
    const shown = await cli(['client', 'show', app.client_id, '--json']);
    expect(parsed<{ requireMfa: boolean }>(shown).requireMfa).toBe(true);
    const off = await cli(['client', 'set-require-mfa', app.client_id, 'FALSE', '--json']);
    expect(parsed<{ requireMfa: boolean }>(off).requireMfa).toBe(false);

    expectRefusal(
      await cli(['client', 'set-require-mfa', app.client_id, 'maybe']),
      64,
      /say true or false \(gatehouse client set-require-mfa ID true\|false\), not "maybe"/,
    );
    expectRefusal(await cli(['client', 'set-require-mfa', 'strict', 'false']), 64, /strict is a static client: .*config\.yaml \(clients\[\]\.requireMfa\)/);
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(false);
    const audit = await api.server.gh.db('audit_log').where({ action: 'client.require_mfa_set', subject: app.client_id }).orderBy('id');
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual([expect.stringMatching(/^cli:/), expect.stringMatching(/^cli:/)]);
  });

  it("toggles it on the console's client page with the CSRF value (static: read-only there)", async () => {
    const app = await registerApp('Console App');
    const admin = await signInToConsole(issuer, 'root@example.com', password);
    const clientUrl = `${issuer}/admin/clients/${app.client_id}`;
    const before = await (await admin.request(clientUrl)).text();
    expect(before).toContain('<h2>Second factor</h2>');
    expect(before).toContain('Require a second factor</button>');
    expect(before).toContain(`action="/admin/clients/${app.client_id}/require-mfa"`);

    const forged = await admin.request(`${clientUrl}/require-mfa`, { form: { requireMfa: 'true' } });
    expect(forged.status).toBe(403);
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(false);

    const posted = await postAccountForm(admin, clientUrl, `${clientUrl}/require-mfa`, { requireMfa: 'true' });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`/admin/clients/${app.client_id}`);
    const after = await (await admin.request(clientUrl)).text();
    expect(after).toContain('Signing in to the client now takes a second factor');
    expect(after).toContain('Stop requiring a second factor</button>');
    expect(after).toContain('required at every sign-in');
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(true);

    const garbled = await postAccountForm(admin, clientUrl, `${clientUrl}/require-mfa`, { requireMfa: 'perhaps' });
    expect(garbled.status).toBe(303);
    expect(await (await admin.request(clientUrl)).text()).toContain('Choose whether signing in to the client takes a second factor.');
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(true);

    const stopped = await postAccountForm(admin, clientUrl, `${clientUrl}/require-mfa`, { requireMfa: 'false' });
    expect(stopped.status).toBe(303);
    expect(await (await admin.request(clientUrl)).text()).toContain('The client no longer requires a second factor');
    expect((await api.server.gh.clients.find(app.client_id))?.requireMfa).toBe(false);
    const audit = await api.server.gh.db('audit_log').where({ action: 'client.require_mfa_set', subject: app.client_id }).orderBy('id');
    expect(audit.map((a: { actor: string; details: string }) => [a.actor, JSON.parse(a.details)])).toEqual([
      ['admin:root@example.com', { requireMfa: true }],
      ['admin:root@example.com', { requireMfa: false }],
    ]);

    const staticPage = await (await admin.request(`${issuer}/admin/clients/strict`)).text();
    expect(staticPage).toContain('A second factor is required at every sign-in');
    expect(staticPage).toContain('clients[].requireMfa');
    expect(staticPage).not.toContain('/admin/clients/strict/require-mfa');
    // A static client cannot be changed through the form's address either.
    const staticPost = await postAccountForm(admin, `${issuer}/admin/clients/strict`, `${issuer}/admin/clients/strict/require-mfa`, { requireMfa: 'false' });
    expect(staticPost.status).toBe(303);
    expect(await (await admin.request(`${issuer}/admin/clients/strict`)).text()).toMatch(/strict is a static client/);
  });

  it('end to end with openid-client: no code for a password-only session until the second factor, amr otp; off again lets password-only through', async () => {
    const app = await registerApp('Step-up App');
    const ann = await newUser();

    // Off: the password is enough.
    const plain = await signIn(app, { email: ann });
    expect(plain.pages).toEqual(['login', 'consent']);
    expect(plain.claims).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:pwd' });

    expect((await api.call('PUT', `/clients/${app.client_id}/require-mfa`, { body: { requireMfa: true } })).status).toBe(200);
    // Another registered client is not affected by this one's setting.
    const other = await registerApp('Other App');
    expect((await signIn(other, { email: await newUser() })).pages).toEqual(['login', 'consent']);

    // The session Ann signed in with a password only is not enough any more: no code, the set-up page instead.
    const again = await signIn(app, { email: ann, browser: plain.browser });
    expect(again.pages).toEqual(['enroll']);
    expect(again.claims).toBeUndefined();
    expect(again.stoppedAt).toMatch(/\/interaction\/[^/]+$/);

    // A fresh sign-in: password, then she sets up an authenticator app, then the code.
    const stepped = await signIn(app, { email: ann, secondFactor: true });
    expect(stepped.pages).toEqual(['login', 'enroll', 'recovery-codes', 'consent']);
    expect(stepped.claims?.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(stepped.claims?.acr).toBe('urn:gatehouse:mfa');

    // Next time: the password alone gets no code; the code from her app does.
    const withoutCode = await signIn(app, { email: ann });
    expect(withoutCode.pages).toEqual(['login', 'totp']);
    expect(withoutCode.claims).toBeUndefined();
    const withCode = await signIn(app, { email: ann, secondFactor: true, secret: stepped.secret! });
    expect(withCode.pages).toEqual(['login', 'totp', 'consent']);
    expect(withCode.claims?.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));

    // Someone without a factor cannot get in with a password only either.
    const bob = await newUser();
    expect((await signIn(app, { email: bob })).pages).toEqual(['login', 'enroll']);

    // Off again (through the CLI): a password-only person gets through.
    expect((await cli(['client', 'set-require-mfa', app.client_id, 'false'])).code).toBe(0);
    const through = await signIn(app, { email: bob });
    expect(through.pages).toEqual(['login', 'consent']);
    expect(through.claims).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:pwd' });
  });
});
