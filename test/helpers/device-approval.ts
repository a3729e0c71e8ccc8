/**
 * The person's side of the device authorization grant (RFC 8628), over HTTP
 * with the Browserless cookie jar instead of Chromium: open the verification
 * page, type the user code, then confirm (sign in with e-mail and password,
 * consent) or cancel. The pages themselves, as a person sees them, are covered
 * in real Chromium by test/e2e/device-flow.test.ts.
 */
import { Browserless } from './http-login.ts';

const xsrfOf = (html: string) => /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const actionOf = (html: string, base: string) => new URL(/<form[^>]* action="([^"]*)"/.exec(html)?.[1] ?? '', base).href;
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

export interface Person {
  email: string;
  password: string;
}

async function page(step: { response: Response; url: string }): Promise<string> {
  const html = await step.response.text();
  if (step.response.status !== 200) throw new Error(`unexpected ${step.response.status} at ${step.url}: ${html.slice(0, 500)}`);
  return html;
}

/**
 * Types `userCode` on `<issuer>/device` and answers the confirmation page:
 * `confirm` signs in and consents, then returns the final page's HTML
 * ("Device connected"); `cancel` presses Cancel and returns the page it shows;
 * `decline` signs in, presses Deny on the consent page and returns the page it leads to.
 */
export async function answerDeviceCode(issuer: string, userCode: string, decision: 'confirm' | 'cancel' | 'decline', person: Person): Promise<string> {
  const browser = new Browserless();
  let step = await browser.follow(`${issuer}/device`, issuer);
  let html = await page(step);
  step = await browser.follow(actionOf(html, step.url), issuer, { form: { xsrf: xsrfOf(html), user_code: userCode } });
  html = await page(step);
  if (!html.includes('Confirm the device')) throw new Error(`no confirmation page for ${userCode}: ${html.slice(0, 500)}`);
  const answer: Record<string, string> = decision === 'cancel' ? { abort: 'yes' } : { confirm: 'yes' };
  step = await browser.follow(actionOf(html, step.url), issuer, { form: { xsrf: xsrfOf(html), user_code: userCode, ...answer } });
  if (decision === 'cancel') return page(step);
  // Sign in, consent, until the device is connected.
  for (let pages = 0; pages < 5; pages += 1) {
    html = await page(step);
    if (html.includes('Device connected') || (decision === 'decline' && html.includes('Connect a device'))) return html;
    if (html.includes('name="password"')) {
      step = await browser.follow(`${step.url}/login`, issuer, { form: { _csrf: csrfOf(html), email: person.email, password: person.password } });
    } else if (html.includes('name="decision"')) {
      step = await browser.follow(`${step.url}/consent`, issuer, { form: { _csrf: csrfOf(html), decision: decision === 'decline' ? 'deny' : 'allow' } });
    } else {
      throw new Error(`unexpected page at ${step.url}: ${html.slice(0, 500)}`);
    }
  }
  throw new Error(`the device was not connected; last page at ${step.url}: ${html.slice(0, 500)}`);
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  interval: number;
  expires_in: number;
}

/** The device's first request (RFC 8628 §3.1) at `base` (where the server listens) for the public client `clientId`; anything but a 200 throws. */
export async function startDeviceAuthorization(base: string, clientId = 'tv'): Promise<DeviceAuthorization> {
  const res = await fetch(`${base}/device/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, scope: 'openid' }),
  });
  if (res.status !== 200) throw new Error(`device authorization at ${base}: ${res.status} ${await res.text()}`);
  return (await res.json()) as DeviceAuthorization;
}
