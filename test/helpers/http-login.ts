/**
 * A scripted browser without a browser: follows Gatehouse's login pages over
 * HTTP with a cookie jar, for tests that need many codes or tokens quickly.
 * The browser tests (Chromium) cover the same pages as a person sees them.
 */
import { createHash, randomBytes } from 'node:crypto';

export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : '/';
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.cookies.delete(`${name}|${path}`);
      else this.cookies.set(`${name}|${path}`, { value, path });
    }
  }

  header(url: string): string {
    const { pathname } = new URL(url);
    return [...this.cookies.entries()]
      .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map(([key, c]) => `${key.split('|')[0]}=${c.value}`)
      .join('; ');
  }
}

export class Browserless {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { cookie: this.jar.header(url), accept: 'text/html' };
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body: body ?? null, redirect: 'manual' });
    this.jar.store(response);
    return response;
  }

  /** Follows redirects until one leaves the issuer (or a page answers); returns the last response and its URL. */
  async follow(url: string, issuer: string, init?: { form?: Record<string, string> }): Promise<{ response: Response; url: string }> {
    let response = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops += 1) {
      const next = new URL(response.headers.get('location') ?? '', current).href;
      if (!next.startsWith(issuer)) return { response, url: next };
      current = next;
      response = await this.request(current);
    }
    return { response, url: current };
  }
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const csrfOf = (html: string): string => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

export interface CodeResult {
  code: string;
  verifier: string;
  redirectUri: string;
  browser: Browserless;
  /** The whole redirect back to the client (code, state, iss). */
  callbackUrl: string;
}

/** Signs in with e-mail + password and consents; returns an authorization code. */
export async function obtainCode(
  issuer: string,
  opts: {
    clientId: string;
    redirectUri: string;
    email: string;
    password: string;
    scope?: string;
    extra?: Record<string, string>;
    browser?: Browserless;
    authorizationEndpoint?: string;
  },
): Promise<CodeResult> {
  const browser = opts.browser ?? new Browserless();
  const { verifier, challenge } = pkcePair();
  const auth = new URL(opts.authorizationEndpoint ?? `${issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: opts.clientId,
    response_type: 'code',
    redirect_uri: opts.redirectUri,
    scope: opts.scope ?? 'openid email profile',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...opts.extra,
  }).toString();
  let step = await browser.follow(auth.href, issuer);
  for (let pages = 0; pages < 4; pages += 1) {
    if (!step.url.startsWith(issuer)) break;
    const html = await step.response.text();
    if (step.response.status !== 200) throw new Error(`unexpected ${step.response.status} at ${step.url}: ${html.slice(0, 500)}`);
    const csrf = csrfOf(html);
    if (html.includes('name="password"')) {
      step = await browser.follow(`${step.url}/login`, issuer, { form: { _csrf: csrf, email: opts.email, password: opts.password } });
    } else if (html.includes('name="decision"')) {
      step = await browser.follow(`${step.url}/consent`, issuer, { form: { _csrf: csrf, decision: 'allow' } });
    } else {
      throw new Error(`unexpected page at ${step.url}: ${html.slice(0, 500)}`);
    }
  }
  const code = new URL(step.url).searchParams.get('code');
  if (!code) throw new Error(`no code in ${step.url}`);
  return { code, verifier, redirectUri: opts.redirectUri, browser, callbackUrl: step.url };
}

export async function tokenRequest(
  issuer: string,
  client: { client_id: string; client_secret?: string },
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const form = new URLSearchParams(params);
  if (client.client_secret)
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
  else form.set('client_id', client.client_id);
  const response = await fetch(`${issuer}/token`, { method: 'POST', headers, body: form.toString() });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
