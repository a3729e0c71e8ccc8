/**
 * Signing in to the admin console over HTTP, without a browser (the same
 * steps as test/admin/console-auth.test.ts): /admin/login sends the browser
 * to Gatehouse's authorization endpoint, its login page takes the password
 * (and the consent page, if one is asked, is allowed), and the redirect back
 * to /admin/callback starts the console session.
 *
 *   const admin = await signInToConsole(server.url, 'root@example.com', password);
 *   const page = await admin.request(`${server.url}/admin/users`);
 *
 * `toConsoleCallback` stops before the callback is requested, for tests that
 * look at (or tamper with) the callback itself.
 */
import { Browserless, csrfOf } from './http-login.ts';

/**
 * From `start` (default `${issuer}/admin/login`) through Gatehouse's pages,
 * signing in with the password when asked and allowing consent if it is
 * asked, to the console's callback, which is not requested yet: its URL.
 */
export async function toConsoleCallback(
  browser: Browserless,
  issuer: string,
  email: string,
  password: string,
  start = `${issuer}/admin/login`,
): Promise<string> {
  let url = start;
  let response = await browser.request(url);
  for (let hops = 0; hops < 12; hops += 1) {
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location')!, url).href;
      if (new URL(url).pathname === `${new URL(issuer).pathname.replace(/\/$/, '')}/admin/callback`) return url;
      response = await browser.request(url);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`unexpected ${response.status} at ${url}: ${html.slice(0, 300)}`);
    const csrf = csrfOf(html);
    if (html.includes('name="password"')) response = await browser.request(`${url}/login`, { form: { _csrf: csrf, email, password } });
    else if (html.includes('name="decision"')) response = await browser.request(`${url}/consent`, { form: { _csrf: csrf, decision: 'allow' } });
    else throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
  }
  throw new Error(`no console callback reached from ${start}`);
}

/** A fresh browser through the whole sign-in: the browser and the callback's answer (302 into the console for an admin, 403 otherwise). */
export async function consoleSignIn(issuer: string, email: string, password: string, start?: string): Promise<{ browser: Browserless; callback: Response }> {
  const browser = new Browserless();
  const callback = await browser.request(await toConsoleCallback(browser, issuer, email, password, start));
  return { browser, callback };
}

/** A browser signed in to the console as `email` (an admin), or an error saying where the sign-in stopped. */
export async function signInToConsole(issuer: string, email: string, password: string): Promise<Browserless> {
  const { browser, callback } = await consoleSignIn(issuer, email, password);
  const location = callback.headers.get('location');
  const consolePath = `${new URL(issuer).pathname.replace(/\/$/, '')}/admin`;
  const landed = location ? new URL(location, issuer).pathname : '';
  if (callback.status !== 302 || !(landed === consolePath || landed.startsWith(`${consolePath}/`))) {
    throw new Error(`console sign-in as ${email} answered ${callback.status} ${location ?? ''}: ${(await callback.text()).slice(0, 300)}`);
  }
  return browser;
}

/** The console session cookie's value in this browser, if it has one. */
export const consoleSessionOf = (browser: Browserless, issuer: string): string | undefined =>
  /(?:^|; )gh\.admin=([^;]+)/.exec(browser.jar.header(`${issuer}/admin`))?.[1];
