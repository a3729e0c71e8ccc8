/**
 * One simulated browser: fetch with manual redirects and its own cookie jar.
 * Every response body is read (so keep-alive connections are reused), and
 * `expect` turns an unexpected status into an error that carries the body.
 */
import { CookieJar } from './cookie-jar.ts';

export interface BrowserResponse {
  status: number;
  location: string | undefined;
  headers: Headers;
  body: string;
  url: URL;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Send and store cookies (a browser does; a back-end client calling /token does not). */
  cookies?: boolean;
}

export class Browser {
  readonly jar = new CookieJar();

  /** `timeoutMs` bounds every request; the overload burst waits longer than a normal step. */
  constructor(
    readonly base: string,
    private readonly timeoutMs = 30_000,
  ) {}

  async request(target: string, options: RequestOptions = {}): Promise<BrowserResponse> {
    const url = new URL(target, this.base);
    const useCookies = options.cookies ?? true;
    const headers: Record<string, string> = { accept: 'text/html', ...options.headers };
    const cookie = useCookies ? this.jar.header(url) : undefined;
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    const res = await fetch(url, {
      method: options.method ?? (body ? 'POST' : 'GET'),
      headers,
      body: body ?? null,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (useCookies) this.jar.store(url, res.headers.getSetCookie());
    return { status: res.status, location: res.headers.get('location') ?? undefined, headers: res.headers, body: text, url };
  }
}

/** Fails loudly: step name, URL, status and the start of the body. */
export function expectStatus(step: string, res: BrowserResponse, ...allowed: number[]): void {
  if (!allowed.includes(res.status)) {
    const snippet = res.body.replace(/\s+/g, ' ').slice(0, 600);
    throw new Error(
      `${step}: ${res.url.pathname} answered ${res.status} (expected ${allowed.join('/')})${res.location ? ` → ${res.location}` : ''}: ${snippet}`,
    );
  }
}

export function expectRedirect(step: string, res: BrowserResponse, pattern: RegExp): string {
  expectStatus(step, res, 302, 303);
  if (!res.location || !pattern.test(res.location)) {
    throw new Error(`${step}: ${res.url.pathname} redirected to ${res.location ?? '(nothing)'}, expected ${pattern}`);
  }
  return res.location;
}

export function hiddenField(step: string, res: BrowserResponse, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(res.body);
  if (!match?.[1]) throw new Error(`${step}: no ${name} field in the page at ${res.url.pathname}: ${res.body.slice(0, 400)}`);
  return match[1];
}
