/**
 * One full authorization-code login, as a fresh browser does it: /auth →
 * login page → POST credentials → resume → consent page → POST allow →
 * resume → code at the redirect URI → the client redeems it at /token
 * (client_secret_basic, PKCE S256). Each step's status is checked and its
 * time recorded, so a slow step can be named.
 */
import { createHash, randomBytes } from 'node:crypto';
import { basicAuth, benchAccount, redirectUri, webClient } from '../fixtures.ts';
import { Browser, expectRedirect, expectStatus, hiddenField } from '../lib/browser.ts';

export const loginSteps = ['authorize', 'loginPage', 'loginPost', 'resumeLogin', 'consentPage', 'consentPost', 'resumeConsent', 'token'] as const;
export type LoginStep = (typeof loginSteps)[number];
export type StepTimes = Record<LoginStep, number[]>;

export function emptyStepTimes(): StepTimes {
  return Object.fromEntries(loginSteps.map((s) => [s, []])) as unknown as StepTimes;
}

const random = () => randomBytes(16).toString('base64url');

/** Who signs in, and an invitation (`acl_token` in the authorization request) for a first login. */
export interface LoginAs {
  account: { email: string; password: string };
  aclToken?: string;
}

/** A browser that has opened the login page: what the overload burst needs. */
export interface AtLoginPage {
  browser: Browser;
  account: LoginAs['account'];
  uid: string;
  csrf: string;
  state: string;
  verifier: string;
}

async function timed<T>(times: StepTimes | undefined, step: LoginStep, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await work();
  times?.[step].push(performance.now() - t0);
  return result;
}

export async function openLoginPage(issuer: string, times?: StepTimes, timeoutMs?: number, as: LoginAs = { account: benchAccount }): Promise<AtLoginPage> {
  const browser = new Browser(issuer, timeoutMs);
  const state = random();
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: webClient.client_id,
    response_type: 'code',
    scope: 'openid email',
    redirect_uri: redirectUri,
    state,
    nonce: random(),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(as.aclToken ? { acl_token: as.aclToken } : {}),
  });
  const interaction = await timed(times, 'authorize', async () =>
    expectRedirect('authorize', await browser.request(`/auth?${query}`), /\/interaction\/[^/?]+$/),
  );
  const uid = interaction.split('/').pop() ?? '';
  const page = await timed(times, 'loginPage', async () => {
    const res = await browser.request(interaction);
    expectStatus('login page', res, 200);
    return res;
  });
  return { browser, account: as.account, uid, csrf: hiddenField('login page', page, '_csrf'), state, verifier };
}

export function postLogin(at: AtLoginPage) {
  return at.browser.request(`/interaction/${at.uid}/login`, {
    form: { _csrf: at.csrf, email: at.account.email, password: at.account.password },
  });
}

export async function loginRoundTrip(issuer: string, times?: StepTimes, as?: LoginAs): Promise<void> {
  await signIn(issuer, times, as);
}

/** The round trip, returning the token response (the mixed workload keeps its access and refresh tokens). */
export async function signIn(issuer: string, times?: StepTimes, as?: LoginAs): Promise<Record<string, unknown>> {
  const at = await openLoginPage(issuer, times, undefined, as);
  const { browser } = at;
  const resume = await timed(times, 'loginPost', async () => expectRedirect('login POST', await postLogin(at), /\/auth\/[^/?]+$/));
  const consent = await timed(times, 'resumeLogin', async () => expectRedirect('resume after login', await browser.request(resume), /\/interaction\/[^/?]+$/));
  const consentPage = await timed(times, 'consentPage', async () => {
    const res = await browser.request(consent);
    expectStatus('consent page', res, 200);
    return res;
  });
  const csrf = hiddenField('consent page', consentPage, '_csrf');
  const resume2 = await timed(times, 'consentPost', async () =>
    expectRedirect('consent POST', await browser.request(`${consent}/consent`, { form: { _csrf: csrf, decision: 'allow' } }), /\/auth\/[^/?]+$/),
  );
  const callback = await timed(times, 'resumeConsent', async () =>
    expectRedirect('resume after consent', await browser.request(resume2), /^http:\/\/127\.0\.0\.1:1\/cb\?/),
  );
  const params = new URL(callback).searchParams;
  const code = params.get('code');
  if (!code || params.get('state') !== at.state) throw new Error(`callback without code or with a wrong state: ${callback}`);

  return timed(times, 'token', async () => {
    const res = await browser.request('/token', {
      cookies: false,
      headers: { authorization: basicAuth(webClient), accept: 'application/json' },
      form: { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: at.verifier },
    });
    expectStatus('token', res, 200);
    const json: unknown = JSON.parse(res.body);
    if (typeof json !== 'object' || json === null || !('id_token' in json) || typeof json.id_token !== 'string') {
      throw new Error(`token: no id_token in ${res.body.slice(0, 300)}`);
    }
    return json as Record<string, unknown>;
  });
}
