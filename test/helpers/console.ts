/**
 * The admin console in Chromium: signing in through Gatehouse's own login page
 * (the console sends the browser there and back), and looking at a console page
 * as a person and a checker would: lang, title, no sideways scrolling at 390
 * pixels, the section navigation on screen, axe-core's WCAG 2.1 A/AA rules
 * (serious and critical violations are problems, the others are collected for
 * the report), what the browser complains about (console errors, failed
 * loads), and a PNG at 1280 and 390 wide when GATEHOUSE_SCREENSHOTS names a
 * folder. Problems are collected, not thrown, so one page's fault does not
 * stop the flow through the others; the test asserts there are none.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

export interface Person {
  email: string;
  password: string;
}

/**
 * Fills Gatehouse's sign-in page (already open), waits for the answer (always
 * another URL: the next page, or the sign-in page again at its POST address
 * with what went wrong), and allows the consent prompt if that is what came.
 */
export async function signInHere(page: Page, who: Person): Promise<void> {
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  const from = page.url();
  await page.getByRole('button', { name: /Sign in/ }).click();
  await page.waitForURL((url) => url.href !== from);
  const allow = page.getByRole('button', { name: 'Allow' });
  if (await allow.isVisible()) await allow.click();
}

/** Opens /admin, expects to be sent to Gatehouse's sign-in page, signs in, and waits to be back in the console. */
export async function signInToConsole(page: Page, issuer: string, who: Person): Promise<void> {
  await page.goto(`${issuer}/admin`);
  await page.getByLabel('E-mail address').waitFor();
  expect(new URL(page.url()).pathname, 'the console sends a signed-out browser to the sign-in page').not.toMatch(/^\/admin/);
  await signInHere(page, who);
  await page.waitForURL((url) => url.pathname.startsWith('/admin'));
}

export interface AxeFinding {
  page: string;
  rule: string;
  impact: string;
  help: string;
  targets: string[];
}

const blocking = new Set(['serious', 'critical']);

/** Looks at console pages at both widths and keeps what axe found below serious for the report. */
export class ConsoleInspector {
  readonly findings: AxeFinding[] = [];
  readonly seen: string[] = [];
  /** What axe could not decide by itself (e.g. contrast over a background it cannot read): for a person to look at. */
  readonly needsReview: AxeFinding[] = [];
  /** Lang, title, sideways scrolling, serious and critical axe violations, per page. */
  readonly problems: string[] = [];

  constructor(readonly shots: string | undefined) {
    if (shots) mkdirSync(shots, { recursive: true });
  }

  /**
   * Keeps the browser's own complaints about a page (CSP refusals of an inline
   * style or script, script errors, failed loads) as problems too.
   */
  watch(page: Page): Page {
    const where = () => new URL(page.url()).pathname;
    page.on('console', (message) => {
      // Failed loads are reported with their URL below, by the response.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        this.problems.push(`browser console at ${where()}: ${message.text().slice(0, 300)}`);
    });
    page.on('pageerror', (error) => this.problems.push(`script error at ${where()}: ${error.message.slice(0, 300)}`));
    page.on('response', (response) => {
      const request = response.request();
      // Pages may answer with an error status on purpose (the 403 page); what they load may not. The
      // favicon Chromium asks for on its own is not something a page loads.
      if (request.resourceType() === 'document' || new URL(response.url()).pathname === '/favicon.ico') return;
      if (response.status() >= 400) this.problems.push(`${request.resourceType()} ${response.url()} answered ${response.status()} on ${where()}`);
    });
    return page;
  }

  /**
   * The page as it is now (no reload): a PNG at 1280, then at 390 wide the
   * checks and a PNG; the viewport goes back to what it was. What fails is
   * kept in `problems` (one line each) so that one page's fault does not stop
   * the flow that reached it; the test asserts `problems` is empty at the end.
   */
  async inspect(page: Page, name: string, options: { navigation?: boolean } = {}): Promise<void> {
    const before = page.viewportSize() ?? { width: 1280, height: 900 };
    const problem = (what: string) => this.problems.push(`${name} (${new URL(page.url()).pathname}): ${what}`);
    try {
      if (!(await page.getAttribute('html', 'lang'))) problem('no lang on <html>');
      if (!(await page.title()).trim()) problem('no title');
      await page.setViewportSize({ width: 1280, height: 900 });
      if (this.shots) await page.screenshot({ path: `${this.shots}/console-${name}-1280.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      const sideways = await page.evaluate(() => {
        const root = document.documentElement;
        const over = root.scrollWidth - root.clientWidth;
        if (over <= 0) return undefined;
        // The innermost elements sticking out on the right (or whose text does), to say which one to fix.
        const width = root.clientWidth + 1;
        const out = [...document.body.querySelectorAll('*')].filter(
          (el) => el.getBoundingClientRect().right > width || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'),
        );
        const culprits = out
          .filter((el) => !out.some((other) => other !== el && el.contains(other)))
          .slice(0, 3)
          .map((el) => {
            const classes = typeof el.className === 'string' && el.className.trim() ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
            return `<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${classes}> "${(el.textContent ?? '').trim().slice(0, 40)}"`;
          });
        return `${over} px sideways scroll at 390 wide, sticking out: ${culprits.join(', ') || 'unknown'}`;
      });
      if (sideways) problem(sideways);
      // On a phone every section stays one tap away: the navigation is one compact row that scrolls
      // sideways in its own box, each link comes on screen when scrolled to (as a keyboard's focus
      // does), and the current one is marked.
      const links = await page.evaluate(() => {
        const anchors = [...document.querySelectorAll<HTMLElement>('nav[aria-label="Console sections"] a')];
        const row = anchors[0]?.closest('ul');
        const scrolled = row?.scrollLeft ?? 0;
        const found = anchors.map((a) => {
          a.scrollIntoView({ block: 'nearest', inline: 'center' });
          const box = a.getBoundingClientRect();
          return {
            text: (a.textContent ?? '').trim(),
            shown: box.width > 0 && box.height > 0 && box.left >= -1 && box.right <= innerWidth + 1 && box.top >= -1 && box.bottom <= innerHeight + 1,
            current: a.getAttribute('aria-current') === 'page',
          };
        });
        // Back to where the page had it (the screenshot shows the row as it opens).
        row?.scrollTo({ left: scrolled });
        window.scrollTo(0, 0);
        const nav = document.querySelector('nav[aria-label="Console sections"]');
        return { found, navHeight: nav ? nav.getBoundingClientRect().height : 0 };
      });
      if (options.navigation === false) {
        if (links.found.length) problem('shows the console navigation to someone who is not an admin');
      } else {
        // One row of links (about 45 px), not a block of wrapped rows before the content.
        if (links.navHeight > 64) problem(`console navigation is ${Math.round(links.navHeight)} px tall at 390 px, not one row`);
        if (links.found.length < 10) problem(`console navigation has ${links.found.length} links, not the 10 sections`);
        const hidden = links.found.filter((l) => !l.shown).map((l) => l.text);
        if (hidden.length) problem(`navigation links not on screen at 390 px: ${hidden.join(', ')}`);
        if (!links.found.some((l) => l.current)) problem('no navigation link is marked as the current section (aria-current)');
      }
      if (this.shots) await page.screenshot({ path: `${this.shots}/console-${name}-390.png`, fullPage: true });
      const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      // A page axe could not read (blank, blocked) passes nothing: that is a failure too.
      if (results.passes.length <= 5) problem(`axe could not read the page (${results.passes.length} passes)`);
      for (const v of results.violations) {
        const targets = v.nodes.map((n) => n.target.join(' ')).slice(0, 5);
        const impact = v.impact ?? 'n/a';
        if (blocking.has(impact)) problem(`axe ${v.id} (${impact}) ${v.help}: ${targets.join(', ')}`);
        else this.findings.push({ page: name, rule: v.id, impact, help: v.help, targets });
      }
      for (const v of results.incomplete)
        this.needsReview.push({ page: name, rule: v.id, impact: v.impact ?? 'n/a', help: v.help, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) });
      this.seen.push(name);
    } finally {
      await page.setViewportSize(before);
    }
  }

  /** The moderate and minor findings (and the rest, in the screenshot folder as axe-findings.json). */
  report(): string {
    if (this.shots)
      writeFileSync(
        `${this.shots}/axe-findings.json`,
        JSON.stringify({ pages: this.seen, findings: this.findings, needsReview: this.needsReview, problems: this.problems }, null, 2),
      );
    return this.findings.map((f) => `${f.page}: ${f.rule} (${f.impact}) ${f.help}: ${f.targets.join(', ')}`).join('\n');
  }
}
