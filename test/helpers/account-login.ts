/**
 * Signing in to the people's pages (`/account`, `/review`) over HTTP, without
 * a browser: /account/login sends the browser to Gatehouse's authorization
 * endpoint (the built-in `gatehouse-account` client), its login page takes
 * the password, and the redirect back to /account/callback starts the
 * account session. No invitation is needed, no consent page is shown.
 *
 *   const person = await signInToAccount(server.url, 'ann@example.com', password);
 *   const page = await person.request(`${server.url}/account/security`);
 */
import { Browserless, csrfOf } from './http-login.ts';

/** From `start` (default `${issuer}/account/login`) through Gatehouse's login page to the callback, not requested yet: its URL. */
export async function toAccountCallback(
  browser: Browserless,
  issuer: string,
  email: string,
  password: string,
  start = `${issuer}/account/login`,
): Promise<string> {
  const callbackPath = `${new URL(issuer).pathname.replace(/\/$/, '')}/account/callback`;
  let url = start;
  let response = await browser.request(url);
  for (let hops = 0; hops < 12; hops += 1) {
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location')!, url).href;
      if (new URL(url).pathname === callbackPath) return url;
      response = await browser.request(url);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`unexpected ${response.status} at ${url}: ${html.slice(0, 300)}`);
    if (!html.includes('name="password"')) throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
    response = await browser.request(`${url}/login`, { form: { _csrf: csrfOf(html), email, password } });
  }
  throw new Error(`no account callback reached from ${start}`);
}

/** A browser signed in to /account as `email` (or an error saying where the sign-in stopped). Pass `browser` to reuse one (its Gatehouse session too). */
export async function signInToAccount(issuer: string, email: string, password: string, browser = new Browserless()): Promise<Browserless> {
  const callback = await browser.request(await toAccountCallback(browser, issuer, email, password));
  const location = callback.headers.get('location') ?? '';
  if (callback.status !== 302 || !/\/(account|review)(?:[/?]|$)/.test(new URL(location, issuer).pathname)) {
    throw new Error(`account sign-in as ${email} answered ${callback.status} ${location}: ${(await callback.text()).slice(0, 300)}`);
  }
  return browser;
}

/** The account session cookie's value in this browser, if it has one. */
export const accountSessionOf = (browser: Browserless, issuer: string): string | undefined =>
  /(?:^|; )gh\.account=([^;]+)/.exec(browser.jar.header(`${issuer}/account`))?.[1];

/** POSTs a form of a people's page with the CSRF value of the page at `pageUrl`. */
export async function postAccountForm(browser: Browserless, pageUrl: string, action: string, fields: Record<string, string> = {}): Promise<Response> {
  const html = await (await browser.request(pageUrl)).text();
  return browser.request(action, { form: { _csrf: csrfOf(html), ...fields } });
}
