/**
 * The second factor in a sign-in, over HTTP, on SQLite and PostgreSQL: a client
 * with `requireMfa` asks for enrollment (QR, secret, first code, recovery codes
 * once) then a TOTP code at every sign-in, and the ID token says
 * `amr: [pwd, otp]`, `acr: urn:gatehouse:mfa`; a client without asks nothing
 * (`amr: [pwd]`, `acr: urn:gatehouse:pwd`) until the person has a factor;
 * `acr_values` steps up; `max_age` asks both factors again; `security.mfa:
 * required` and an invitation with `require_mfa` force enrollment; the admin
 * reset makes the person enroll again; a recovery code signs in once. TOTP
 * codes are computed here from the secret at the injected clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { signInToAccount } from '../helpers/account-login.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const strict = { ...testClients.web, client_id: 'strict', client_name: 'Strict App', redirect_uris: [redirectUri], requireMfa: true };

interface Outcome {
  pages: string[];
  claims: Record<string, unknown>;
  secret?: string;
  recoveryCodes?: string[];
}

describe.each(databaseKinds)('second factor at sign-in on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let required: TestServer;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };
  let counter = 0;
  const raw = { clients: [web, strict], connectors: [{ id: 'local', type: 'local', name: 'Email' }] };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, raw, { clock });
    required = await startTestServer(db, { ...raw, security: { mfa: 'required' } }, { clock });
  });
  afterAll(async () => {
    await required?.stop();
    await server?.stop();
    await db?.drop();
  });

  async function newUser(at = server): Promise<{ id: string; email: string }> {
    counter += 1;
    const email = `mfa-${kind}-${counter}@example.com`;
    const { id } = await at.gh.users.createLocal({ email, name: 'M', password: 'a-long-password-1' }, 'test');
    return { id, email };
  }

  /** Moves the clock on a minute: a fresh TOTP step for the next code. */
  const nextCode = async (secret: string) => {
    skew += 60_000;
    return totpCode(secret, timeStep(clock.now()));
  };

  /** One authorization: password, then whatever second-factor page comes (enroll, code, recovery), then tokens. */
  async function signIn(
    at: TestServer,
    opts: { clientId: string; email: string; secret?: string; recovery?: string; extra?: Record<string, string>; browser?: Browserless },
  ): Promise<Outcome> {
    const browser = opts.browser ?? new Browserless();
    const issuer = at.url;
    const { verifier, challenge } = pkcePair();
    const auth = new URL(`${issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: opts.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid email',
      state: 'st',
      nonce: 'n',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...opts.extra,
    }).toString();
    const pages: string[] = [];
    const out: Partial<Outcome> = {};
    let step = await browser.follow(auth.href, issuer);
    for (let i = 0; i < 8 && step.url.startsWith(issuer); i += 1) {
      const html = await step.response.text();
      expect(step.response.status, html.slice(0, 400)).toBe(200);
      const csrf = csrfOf(html);
      const uidPath = step.url.replace(/\/mfa\/recovery$/, '');
      if (html.includes('name="password"')) {
        pages.push('login');
        step = await browser.follow(`${uidPath}/login`, issuer, { form: { _csrf: csrf, email: opts.email, password: 'a-long-password-1' } });
      } else if (html.includes('/mfa/enroll"')) {
        pages.push('enroll');
        expect(html).toContain('role="img"');
        expect(html).not.toContain('style=');
        const secret = /id="totp-secret">([^<]+)</.exec(html)![1]!.replace(/\s+/g, '');
        const factor = /name="factor" value="([^"]+)"/.exec(html)![1]!;
        out.secret = secret;
        step = await browser.follow(`${uidPath}/mfa/enroll`, issuer, { form: { _csrf: csrf, factor, code: await nextCode(secret) } });
      } else if (html.includes('Save your recovery codes')) {
        pages.push('recovery-codes');
        out.recoveryCodes = [...html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
        const next = /class="button primary" href="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
        step = await browser.follow(new URL(next, issuer).href, issuer);
      } else if (html.includes('/mfa/recovery"') && html.includes('Recovery code')) {
        pages.push('recovery');
        step = await browser.follow(`${uidPath}/mfa/recovery`, issuer, { form: { _csrf: csrf, code: opts.recovery ?? '' } });
      } else if (html.includes('Code from your authenticator app')) {
        pages.push('totp');
        if (opts.recovery) {
          step = await browser.follow(`${uidPath}/mfa/recovery`, issuer);
          continue;
        }
        step = await browser.follow(`${uidPath}/mfa`, issuer, { form: { _csrf: csrf, code: await nextCode(opts.secret!) } });
      } else if (html.includes('name="decision"')) {
        pages.push('consent');
        step = await browser.follow(`${uidPath}/consent`, issuer, { form: { _csrf: csrf, decision: 'allow' } });
      } else {
        throw new Error(`unexpected page at ${step.url}: ${html.slice(0, 600)}`);
      }
    }
    const code = new URL(step.url).searchParams.get('code');
    expect(code, step.url).toBeTruthy();
    const tokens = await tokenRequest(issuer, opts.clientId === 'strict' ? strict : web, {
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    const claims = JSON.parse(Buffer.from(String(tokens.body.id_token).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    return { pages, claims, ...out };
  }

  it('a client with requireMfa: enrollment, then a TOTP code at each sign-in; amr pwd+otp, acr mfa', async () => {
    const user = await newUser();
    const first = await signIn(server, { clientId: 'strict', email: user.email });
    expect(first.pages).toEqual(['login', 'enroll', 'recovery-codes', 'consent']);
    expect(first.recoveryCodes).toHaveLength(10);
    expect(first.claims.amr).toEqual(['pwd', 'otp']);
    expect(first.claims.acr).toBe('urn:gatehouse:mfa');
    expect(typeof first.claims.auth_time).toBe('number');

    const again = await signIn(server, { clientId: 'strict', email: user.email, secret: first.secret! });
    expect(again.pages).toEqual(['login', 'totp', 'consent']);
    expect(again.claims).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:gatehouse:mfa' });
  });

  it('a client without requireMfa asks nothing of someone without a factor', async () => {
    const user = await newUser();
    const out = await signIn(server, { clientId: 'web', email: user.email });
    expect(out.pages).toEqual(['login', 'consent']);
    expect(out.claims).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:pwd' });
  });

  it('acr_values steps up a session signed in with a password only; max_age asks both factors again', async () => {
    const user = await newUser();
    const browser = new Browserless();
    const plain = await signIn(server, { clientId: 'web', email: user.email, browser });
    expect(plain.claims.acr).toBe('urn:gatehouse:pwd');
    const stepped = await signIn(server, { clientId: 'web', email: user.email, browser, extra: { acr_values: 'urn:gatehouse:mfa' } });
    expect(stepped.pages).toEqual(['enroll', 'recovery-codes']);
    expect(stepped.claims).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:gatehouse:mfa' });
    // The session has its second factor now: the same request again asks nothing.
    const same = await signIn(server, { clientId: 'web', email: user.email, browser, extra: { acr_values: 'urn:gatehouse:mfa' } });
    expect(same.pages).toEqual([]);
    // max_age=0: a fresh login, and with it the second factor again.
    const fresh = await signIn(server, { clientId: 'web', email: user.email, browser, secret: stepped.secret!, extra: { max_age: '0' } });
    expect(fresh.pages).toEqual(['login', 'totp']);
    expect(fresh.claims.acr).toBe('urn:gatehouse:mfa');
  });

  it('security.mfa: required makes everyone enroll at their next sign-in, for any client', async () => {
    const user = await newUser(required);
    const out = await signIn(required, { clientId: 'web', email: user.email });
    expect(out.pages).toEqual(['login', 'enroll', 'recovery-codes', 'consent']);
    expect(out.claims.acr).toBe('urn:gatehouse:mfa');
  });

  it('an invitation with requireMfa makes the person enroll; once enrolled they are always asked', async () => {
    const user = await newUser();
    const invitation = await server.gh.aclTokens.create({ maxUsers: 1, clients: ['web'], requireMfa: true }, 'admin@example.com');
    expect(await server.gh.mfa.requireIfInvitedBy(user.id, invitation.token)).toBe(true);
    const out = await signIn(server, { clientId: 'web', email: user.email });
    expect(out.pages).toEqual(['login', 'enroll', 'recovery-codes', 'consent']);
    const later = await signIn(server, { clientId: 'web', email: user.email, secret: out.secret! });
    expect(later.pages).toEqual(['login', 'totp', 'consent']);
  });

  it('after the admin reset the person enrolls again; a recovery code signs in once', async () => {
    const user = await newUser();
    const first = await signIn(server, { clientId: 'strict', email: user.email });
    const code = first.recoveryCodes![0]!;
    const withCode = await signIn(server, { clientId: 'strict', email: user.email, recovery: code });
    expect(withCode.pages).toEqual(['login', 'totp', 'recovery', 'consent']);
    expect(withCode.claims).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:gatehouse:mfa' });
    const mail = await server.gh.db('mail_outbox').where({ to: user.email }).andWhere('subject', 'like', 'A recovery code was used%');
    expect(mail).toHaveLength(1);
    await expect(signIn(server, { clientId: 'strict', email: user.email, recovery: code })).rejects.toThrow();

    await server.gh.mfa.reset(user.id, 'admin@example.com');
    const again = await signIn(server, { clientId: 'strict', email: user.email });
    expect(again.pages).toEqual(['login', 'enroll', 'recovery-codes', 'consent']);
  });

  it('/account/security: add an authenticator app (codes shown once), new recovery codes, remove it', async () => {
    const user = await newUser();
    const browser = await signInToAccount(server.url, user.email, 'a-long-password-1');
    const security = `${server.url}/account/security`;
    const enroll = await browser.request(`${security}/totp`);
    const html = await enroll.text();
    expect(enroll.status).toBe(200);
    expect(html).toContain('role="img"');
    expect(html).not.toContain('style=');
    const secret = /id="totp-secret">([^<]+)</.exec(html)![1]!.replace(/\s+/g, '');
    const factor = /name="factor" value="([^"]+)"/.exec(html)![1]!;
    const wrong = await browser.request(`${security}/totp`, { form: { _csrf: csrfOf(html), factor, code: '000000', name: 'Phone' } });
    expect(wrong.status).toBe(400);
    const added = await browser.request(`${security}/totp`, { form: { _csrf: csrfOf(html), factor, code: await nextCode(secret), name: 'Phone' } });
    const codesPage = await added.text();
    expect(added.status).toBe(200);
    expect([...codesPage.matchAll(/<li><code>[a-z0-9-]+<\/code><\/li>/g)]).toHaveLength(10);
    const listed = await (await browser.request(security)).text();
    expect(listed).toContain('Phone');
    expect(listed).toContain('10 of 10 left');

    const confirm = await (await browser.request(`${security}/recovery-codes/new`)).text();
    const fresh = await browser.request(`${security}/recovery-codes/new`, { form: { _csrf: csrfOf(confirm) } });
    expect(fresh.status).toBe(200);
    expect(await fresh.text()).toContain('Save your recovery codes');

    const id = (await server.gh.mfa.factors(user.id))[0]!.id;
    const removeConfirm = await (await browser.request(`${security}/factors/remove?id=${id}`)).text();
    expect(removeConfirm).toContain('Remove Phone?');
    const removed = await browser.request(`${security}/factors/remove`, { form: { _csrf: csrfOf(removeConfirm), id } });
    expect(removed.status).toBe(303);
    expect(await server.gh.mfa.factors(user.id)).toEqual([]);
    expect(await server.gh.mfa.recoveryCodes(user.id)).toEqual({ total: 0, unused: 0 });
  });
});
