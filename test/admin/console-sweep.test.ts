/**
 * Every admin console route, whoever wrote it: the sweep reads the console
 * router's own route table (`consoleRoutes(...).stack`: each layer's methods
 * and path), so a page added later is swept without being named here. On
 * SQLite and PostgreSQL, with a database holding one of everything (a user
 * with access through an invitation, a pending join request, a registered
 * client, a registration token, a device token and its device, signing keys).
 *
 * What it proves, for every route:
 * - The console links only to working pages: a crawl from /admin as a signed-in
 *   admin follows every link and GET form below /admin; each page it reaches is
 *   a 200 (or a redirect inside /admin), every POST form on it carries the
 *   browser's `_csrf` value, and the crawl changes nothing in the database
 *   (GETs are safe). The URLs found give each `:param` route real ids (a POST
 *   route the console does not offer now, such as Enable on an enabled user,
 *   takes the ids of a linked sibling route).
 * - GET routes without a path parameter, signed in: 200 or a redirect inside
 *   /admin; an HTML page with `<html lang=`, a non-empty `<title>`, a `<main`,
 *   no inline `<script>` (only `src=`), no `<style>` element, no `style=`
 *   attribute, no inline event handler nor `javascript:` URL;
 *   `Cache-Control: no-store`; the strict Content-Security-Policy (no
 *   'unsafe-inline', no framing). GET routes with a `:param`: the same on the
 *   real ids the console links to, and an unknown id (each parameter in turn)
 *   is the console's 404 page, never a 500.
 * - POST routes, signed in: without `_csrf`, and with a wrong one, a 403 page
 *   (the same page checks) and nothing changed (no audit row, no table
 *   changed), on the real ids. With
 *   the right `_csrf` and an empty form (unknown ids): below 500, a redirect
 *   inside /admin or a whole page (the form shown again with its refusal).
 * - Signed out: every GET page redirects 302 to /admin/login?next=<the path>
 *   (/admin itself to /admin/login); every POST, even with the browser's own
 *   valid CSRF value, is refused (403 or a redirect) and changes nothing.
 * - No answer anywhere is a 5xx (the server's error log lines are quoted), and
 *   every answer but the two static assets, redirects and refusals included,
 *   is `Cache-Control: no-store`.
 * The sign-in routes and the two static assets (`publicPaths`) are checked
 * for "never a 5xx" only: test/admin/console-auth.test.ts covers them.
 *
 * Problems are collected per route and asserted at the end of each check, so
 * one broken page does not hide the others. A route that is known broken and
 * cannot be fixed before a deadline goes in `knownGaps` (with why); a gap that
 * no longer happens fails too, so the list only shrinks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Layer, Router } from '@koa/router';
import { pino } from 'pino';
import { consolePrefix, consoleRoutes, publicPaths } from '../../src/admin/web/index.ts';
import { signInToConsole } from '../helpers/console-login.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { deviceConfig, enroll, newManufacturerId } from '../helpers/devices.ts';
import { Browserless } from '../helpers/http-login.ts';
import { register, registered, serviceMetadata } from '../helpers/registration.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const password = 'a long enough password';
const unknownId = 'no-such-id-in-the-sweep';

/**
 * Routes known to fail a check, each with why and who owns it. A problem line
 * is `<METHOD> <route>: <symptom>`; an entry matches when the line starts
 * with `route` and contains `symptom`. Empty: every route passes.
 */
const knownGaps: { route: string; symptom: string; why: string }[] = [];

interface Route {
  method: 'GET' | 'POST';
  /** The pattern, with the prefix: `/admin/users/:id`. */
  path: string;
  params: string[];
  /** A sign-in route or a static asset: reachable signed out. */
  isPublic: boolean;
  layer: Layer;
}

/** The console's routes from its router: everything but the shell's guard and not-found (`router.all`). */
function routeTable(router: Router): Route[] {
  const routes: Route[] = [];
  for (const layer of router.stack) {
    const methods = layer.methods.filter((m) => m !== 'HEAD');
    if (methods.length !== 1) continue; // router.all: the guard and the not-found page
    const method = methods[0];
    const path = String(layer.path);
    if (method !== 'GET' && method !== 'POST') throw new Error(`the sweep does not know ${method} ${path}: add it`);
    routes.push({
      method,
      path,
      params: layer.paramNames.map((p) => String(p.name)),
      isPublic: publicPaths.has(path.slice(consolePrefix.length)),
      layer,
    });
  }
  return routes;
}

const routeName = (r: Route) => `${r.method} ${r.path}`;

/** `path` with each `:param` replaced by `values[param]`. */
function fill(route: Route, values: Record<string, string>): string {
  return route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => values[name] ?? unknownId);
}

/** The parameter values in `url`, a path the route matches (segment by segment). */
function paramsOf(route: Route, url: string): Record<string, string> {
  const values: Record<string, string> = {};
  const actual = url.split('/');
  route.path.split('/').forEach((segment, i) => {
    if (segment.startsWith(':')) values[segment.slice(1)] = actual[i] ?? unknownId;
  });
  return values;
}

/** What the layout promises on every console page, and the strict CSP. */
function pageProblems(response: Response, html: string): string[] {
  const problems: string[] = [];
  if (!/^text\/html/.test(response.headers.get('content-type') ?? '')) problems.push(`content-type ${response.headers.get('content-type')}`);
  if (!/<html\b[^>]*\blang="[^"]+"/.test(html)) problems.push('no <html lang=');
  if (!/<title>\s*[^<\s][^<]*<\/title>/.test(html)) problems.push('no (or an empty) <title>');
  if (!/<main\b/.test(html)) problems.push('no <main');
  const inlineScript = /<script\b(?![^>]*\bsrc=)[^>]*>/i.exec(html);
  if (inlineScript) problems.push(`inline script ${inlineScript[0]}`);
  if (/<style\b/i.test(html)) problems.push('a <style> element');
  const styled = /<[a-z][^>]*\sstyle\s*=[^>]*>/i.exec(html);
  if (styled) problems.push(`style= attribute in ${styled[0].slice(0, 120)}`);
  const handler = /<[a-z][^>]*\son[a-z]+\s*=[^>]*>/i.exec(html);
  if (handler) problems.push(`inline event handler in ${handler[0].slice(0, 120)}`);
  if (/(?:href|src|action)\s*=\s*"\s*javascript:/i.test(html)) problems.push('a javascript: URL');
  if (response.headers.get('cache-control') !== 'no-store') problems.push(`Cache-Control ${response.headers.get('cache-control')}`);
  const csp = response.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
    if (!csp.split(/;\s*/).includes(directive)) problems.push(`CSP without ${directive}: ${csp}`);
  }
  if (csp.includes('unsafe-inline')) problems.push(`CSP allows unsafe-inline: ${csp}`);
  return problems;
}

/** Links and forms below /admin on a page: GET targets (hrefs and GET forms) and POST form actions. */
function targetsOf(html: string): { gets: string[]; posts: string[] } {
  const gets: string[] = [];
  const posts: string[] = [];
  const inConsole = (url: string) =>
    url === consolePrefix || ((url.startsWith(`${consolePrefix}/`) || url.startsWith(`${consolePrefix}?`)) && !url.startsWith(`${consolePrefix}/api`));
  const decode = (url: string) => url.replace(/&amp;/g, '&');
  for (const [, href] of html.matchAll(/<a\b[^>]*\bhref="([^"]+)"/g)) if (inConsole(decode(href!))) gets.push(decode(href!));
  for (const [tag] of html.matchAll(/<form\b[^>]*>/g)) {
    const action = decode(/\baction="([^"]*)"/.exec(tag)?.[1] ?? '');
    if (!inConsole(action)) continue;
    if ((/\bmethod="([^"]*)"/.exec(tag)?.[1] ?? 'get').toLowerCase() === 'post') posts.push(action);
    else gets.push(action);
  }
  return { gets, posts };
}

describe.each(databaseKinds)('console route sweep on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;
  let admin: Browserless;
  let routes: Route[];
  /** Warnings and errors the server logged (pino JSON lines). */
  const logLines: string[] = [];
  /** Real URLs the console links to, per route (from the crawl). */
  const linked = new Map<string, string[]>();
  /** Every problem found, `<METHOD> <route>: <symptom>`. */
  const found: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line.trim()) });
    server = await startTestServer(
      db,
      deviceConfig(
        {},
        {
          connectors: [{ id: 'local', type: 'local', name: 'Email' }],
          clients: [{ ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] }, testClients.service],
          admins: ['root@example.com'],
          firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
          registration: { enabled: true },
          security: { rateLimits: { admin: { max: 100_000, window: '1m' } } },
        },
      ),
      { logger },
    );
    const { gh } = server;
    await gh.users.createLocal({ email: 'root@example.com', password }, 'test');
    // One of everything, so that every list has a row and every :param a real id.
    const bob = await gh.users.createLocal({ email: 'bob@example.com', password, name: 'Bob' }, 'test');
    const invitation = await gh.aclTokens.create({ maxUsers: 3, clients: ['web'], description: 'sweep invitation' }, 'test');
    await gh.gate.attachToken(gh.db, bob.id, invitation.row.id, 'test');
    await gh.joinRequests.file({
      identity: { connectorId: 'local', subject: 'sweep-ann', emailVerified: true },
      clientId: 'web',
      email: 'ann@example.com',
      name: 'Ann',
      message: 'please',
    });
    const registration = await gh.registrationTokens.create({ count: 2, expiresAt: Date.now() + 86_400_000, description: 'sweep registration' }, 'test');
    registered(await register(server.url, serviceMetadata({ client_name: 'Swept Sensor' }), registration.token));
    const deviceToken = await gh.devices.createToken({ expiresAt: Date.now() + 86_400_000, maxDevices: 2, description: 'sweep devices' }, 'test');
    expect((await enroll(server.url, { token: deviceToken.token, manufacturerId: newManufacturerId() })).status).toBe(201);

    admin = await signInToConsole(server.url, 'root@example.com', password);
    // The route table of a console built like the server's (same config, same sections); only its table is read,
    // so the provider and the limiter are never used (either one touched while building says so).
    const unused = (what: string) =>
      new Proxy(
        {},
        {
          get: () => {
            throw new Error(`building the console route table used the ${what}`);
          },
        },
      ) as never;
    routes = routeTable(consoleRoutes({ gh, provider: unused('provider'), limiter: unused('limiter') }));
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** One request; a 5xx is a problem, quoted with what the server logged meanwhile. */
  async function send(browser: Browserless, route: Route, url: string, form?: Record<string, string>): Promise<{ response: Response; html: string }> {
    const logged = logLines.length;
    const response = await browser.request(`${server.url}${url}`, form ? { form } : {});
    const html = await response.text();
    // Only the two static assets may be cached: every other answer (redirects and refusals too) is no-store.
    if (!url.startsWith(`${consolePrefix}/static/`) && response.headers.get('cache-control') !== 'no-store') {
      found.push(`${routeName(route)}: ${url} answered ${response.status} with Cache-Control ${response.headers.get('cache-control')}`);
    }
    if (response.status >= 500)
      found.push(`${routeName(route)}: ${url} answered ${response.status}; server log: ${logLines.slice(logged).join(' | ') || '(nothing)'}`);
    return { response, html };
  }

  /**
   * Rows of every table, as one string to compare. Left out: console and
   * account sessions (last_seen_at moves on any request), the mail queue
   * (the sender retries in the background) and rate-limit counters.
   */
  async function snapshot(): Promise<string> {
    const { gh } = server;
    const tables: string[] =
      db.kind === 'sqlite'
        ? (await gh.db.raw("select name from sqlite_master where type = 'table'")).map((r: { name: string }) => r.name)
        : (await gh.db.raw('select table_name as name from information_schema.tables where table_schema = current_schema()')).rows.map(
            (r: { name: string }) => r.name,
          );
    const volatile = /^(knex_|sqlite_)|^(admin_session|account_session|mail_outbox)$|rate_limit/;
    const parts: string[] = [];
    for (const table of tables.filter((t) => !volatile.test(t)).sort()) {
      const rows = (await gh.db(table).select('*')) as Record<string, unknown>[];
      parts.push(
        `${table}:${rows
          .map((r) => JSON.stringify(r))
          .sort()
          .join('\n')}`,
      );
    }
    return parts.join('\n\n');
  }

  /** Reports what `found` holds beyond the known gaps (and the known gaps that did not happen). */
  function assertClean(family: string, prefix: string) {
    const lines = found.filter((line) => line.startsWith(prefix));
    const open = lines.filter((line) => !knownGaps.some((gap) => line.startsWith(gap.route) && line.includes(gap.symptom)));
    expect(open, `${family}:\n${open.join('\n')}`).toEqual([]);
  }

  const mark = (route: Route, what: string) => found.push(`${routeName(route)}: ${what}`);

  it('reads the route table: the sections and the shell are there', () => {
    const names = routes.map(routeName);
    expect(names).toContain('GET /admin');
    expect(names).toContain('POST /admin/logout');
    expect(names).toContain('GET /admin/login');
    expect(routes.filter((r) => !r.isPublic).length).toBeGreaterThan(20);
    expect(routes.some((r) => r.method === 'POST' && r.params.length > 0)).toBe(true);
  });

  it('crawls every link and GET form below /admin: each answers a page (or a redirect inside /admin), and nothing changes', async () => {
    const before = await snapshot();
    const csrfValue = /(?:^|; )gh\.csrf=([^;]+)/.exec(admin.jar.header(`${server.url}${consolePrefix}`))?.[1];
    expect(csrfValue).toBeTruthy();
    const queue = [consolePrefix];
    const seen = new Set(queue);
    /** Where each URL was first linked from. */
    const from = new Map<string, string>();
    const posts = new Set<string>();
    const crawl: Route = { method: 'GET', path: '(crawl)', params: [], isPublic: false, layer: undefined as never };
    while (queue.length && seen.size < 400) {
      const url = queue.shift()!;
      const { response, html } = await send(admin, crawl, url);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400) {
        if (!location || !new URL(location, server.url).pathname.startsWith(consolePrefix))
          found.push(`GET (crawl): ${url} redirects outside the console to ${location}`);
        continue;
      }
      if (response.status !== 200) found.push(`GET (crawl): ${url} (linked from ${from.get(url)}) answered ${response.status}`);
      // Every POST form carries this browser's CSRF value.
      for (const [, tag, body] of html.matchAll(/(<form\b[^>]*>)([\s\S]*?)<\/form>/g)) {
        if (!/\bmethod="post"/i.test(tag!)) continue;
        const sent = /<input\b[^>]*\bname="_csrf"[^>]*\bvalue="([^"]*)"/.exec(body!)?.[1];
        if (sent !== csrfValue) found.push(`GET (crawl): ${url}: a POST form ${tag} without this browser's _csrf (${sent ?? 'none'})`);
      }
      const { gets, posts: forms } = targetsOf(html);
      for (const action of forms) posts.add(action);
      for (const next of gets) {
        if (seen.has(next) || next.startsWith(`${consolePrefix}/static/`) || next.startsWith(`${consolePrefix}/login`)) continue;
        seen.add(next);
        from.set(next, url);
        queue.push(next);
      }
    }
    // Which route each URL found is (a real id for each :param route).
    for (const [method, urls] of [
      ['GET', seen],
      ['POST', posts],
    ] as const) {
      for (const url of urls) {
        const pathname = new URL(url, server.url).pathname;
        for (const route of routes.filter((r) => r.method === method && r.params.length > 0 && r.layer.match(pathname))) {
          linked.set(routeName(route), [...(linked.get(routeName(route)) ?? []), pathname]);
        }
      }
    }
    // A POST route the console does not offer now (Enable on a user who is not disabled): the real ids of a linked sibling route.
    for (const route of routes.filter((r) => r.method === 'POST' && r.params.length > 0 && !linked.has(routeName(r)))) {
      const segments = route.path.split('/');
      const upTo = segments.map((segment) => segment.startsWith(':')).lastIndexOf(true) + 1;
      const sibling = routes.find((r) => linked.has(routeName(r)) && r.path.split('/').slice(0, upTo).join('/') === segments.slice(0, upTo).join('/'));
      if (sibling) linked.set(routeName(route), [fill(route, paramsOf(sibling, linked.get(routeName(sibling))![0]!))]);
    }
    if (process.env.SWEEP_DEBUG) {
      const unlinked = routes.filter((r) => r.params.length > 0 && !linked.has(routeName(r))).map(routeName);
      console.info(`crawled ${seen.size} pages, ${posts.size} forms; :param routes without a real id: ${unlinked.join(', ') || 'none'}`);
    }
    expect(await snapshot(), 'browsing the console changed the database').toBe(before);
    assertClean('pages the console links to', 'GET (crawl)');
    expect(seen.size).toBeGreaterThan(20);
  });

  it('answers every GET route as a whole console page, signed in; an unknown id is the 404 page', async () => {
    for (const route of routes.filter((r) => r.method === 'GET')) {
      if (route.isPublic) {
        await send(admin, route, route.path.replace(/:([A-Za-z0-9_]+)/g, unknownId));
        continue;
      }
      const urls = route.params.length ? (linked.get(routeName(route)) ?? []).slice(0, 3) : [route.path];
      for (const url of urls) {
        const { response, html } = await send(admin, route, url);
        const location = response.headers.get('location');
        if (response.status >= 300 && response.status < 400) {
          if (!location || !new URL(location, server.url).pathname.startsWith(consolePrefix))
            mark(route, `${url} redirects outside the console to ${location}`);
          continue;
        }
        if (response.status !== 200) mark(route, `${url} answered ${response.status}: ${html.replace(/\s+/g, ' ').slice(0, 200)}`);
        for (const problem of pageProblems(response, html)) mark(route, `${url}: ${problem}`);
      }
      if (!route.params.length) continue;
      // An unknown id, each parameter in turn (the others real when the console linked the route), then all of them.
      const real = urls[0] ? paramsOf(route, urls[0]) : {};
      const variants = route.params.map((name) => ({ ...real, [name]: unknownId }));
      if (route.params.length > 1) variants.push({});
      for (const values of variants) {
        const url = fill(route, values);
        const { response, html } = await send(admin, route, url);
        if (response.status !== 404) mark(route, `${url} (unknown id) answered ${response.status}, not 404`);
        for (const problem of pageProblems(response, html)) mark(route, `${url} (unknown id): ${problem}`);
      }
    }
    assertClean('GET routes, signed in', 'GET /');
  });

  it('refuses every POST route without _csrf or with a wrong one (403), changing nothing', async () => {
    for (const route of routes.filter((r) => r.method === 'POST')) {
      const url = linked.get(routeName(route))?.[0] ?? fill(route, {});
      for (const [label, form] of [
        ['without _csrf', { sweep: 'x' }],
        ['with a wrong _csrf', { _csrf: 'a-wrong-csrf-value-0123456789', sweep: 'x' }],
      ] as const) {
        const before = await snapshot();
        const { response, html } = await send(admin, route, url, form);
        if (response.status !== 403) mark(route, `${url} ${label} answered ${response.status}, not 403`);
        for (const problem of pageProblems(response, html)) mark(route, `${url} ${label}: the refusal ${problem}`);
        if ((await snapshot()) !== before) mark(route, `${url} ${label} changed the database`);
      }
    }
    assertClean('POST routes, signed in, bad CSRF', 'POST /');
    // Still signed in: the refusals ended nothing.
    expect((await admin.request(`${server.url}${consolePrefix}`)).status).toBe(200);
  });

  it('answers every POST route with the right _csrf and an empty form (unknown ids) below 500: a page or a redirect inside /admin', async () => {
    const html = await (await admin.request(`${server.url}${consolePrefix}`)).text();
    const csrfValue = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    expect(csrfValue).not.toBe('');
    // Not the sign-in routes: /admin/logout would end the sweep's session.
    for (const route of routes.filter((r) => r.method === 'POST' && !r.isPublic)) {
      const url = fill(route, {});
      const { response, html: answer } = await send(admin, route, url, { _csrf: csrfValue });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400) {
        if (!location || !new URL(location, server.url).pathname.startsWith(consolePrefix)) mark(route, `${url} with an empty form redirects to ${location}`);
      } else if (response.status < 500) {
        for (const problem of pageProblems(response, answer)) mark(route, `${url} with an empty form (${response.status}): ${problem}`);
      }
    }
    assertClean('POST routes, signed in, an empty form', 'POST /');
  });

  it('sends a signed-out browser to the sign-in page from every GET route and refuses every POST, changing nothing', async () => {
    const stranger = new Browserless();
    // The stranger's own CSRF value (the console sets the cookie on any GET): valid for its forms, but it has no session.
    await stranger.request(`${server.url}${consolePrefix}/users`);
    const csrfValue = /(?:^|; )gh\.csrf=([^;]+)/.exec(stranger.jar.header(`${server.url}${consolePrefix}`))?.[1] ?? '';
    expect(csrfValue.length).toBeGreaterThanOrEqual(20);
    const outside = (route: Route) => `${route.method} (signed out) ${route.path}`;
    for (const route of routes) {
      const url = linked.get(routeName(route))?.[0] ?? fill(route, {});
      if (route.method === 'GET') {
        const { response } = await send(stranger, route, url);
        if (route.isPublic) continue;
        const expected = url === consolePrefix ? `${consolePrefix}/login` : `${consolePrefix}/login?next=${encodeURIComponent(url)}`;
        if (response.status !== 302 || response.headers.get('location') !== expected) {
          found.push(`${outside(route)}: ${url} answered ${response.status} ${response.headers.get('location') ?? ''}, not 302 to ${expected}`);
        }
        continue;
      }
      for (const form of [{ sweep: 'x' }, { _csrf: csrfValue, sweep: 'x' }]) {
        const before = await snapshot();
        const { response } = await send(stranger, route, url, form);
        const refused = response.status === 403 || (response.status >= 300 && response.status < 400);
        if (!refused) found.push(`${outside(route)}: ${url} ${form._csrf ? 'with' : 'without'} _csrf answered ${response.status}`);
        if ((await snapshot()) !== before) found.push(`${outside(route)}: ${url} changed the database`);
      }
    }
    assertClean('signed out', 'GET (signed out)');
    assertClean('signed out', 'POST (signed out)');
  });

  it('checks for real: the snapshot sees a change, and the page checks see a style=, an inline script, a missing <main>', async () => {
    const before = await snapshot();
    await server.gh.audit.record(server.gh.db, { actor: 'test', action: 'sweep.control' });
    expect(await snapshot()).not.toBe(before);
    const response = await admin.request(`${server.url}${consolePrefix}`);
    const html = await response.text();
    expect(pageProblems(response, html)).toEqual([]);
    const broken = html.replace('<main', '<div').replace('</head>', '<script>alert(1)</script></head>').replace('<h1', '<h1 style="color: red"');
    expect(pageProblems(response, broken)).toEqual([
      expect.stringContaining('no <main'),
      expect.stringContaining('inline script'),
      expect.stringContaining('style='),
    ]);
  });

  it('never answered a 5xx, and every known gap still happens (remove the ones fixed)', () => {
    assertClean('everything the sweep found', '');
    const stale = knownGaps.filter((gap) => !found.some((line) => line.startsWith(gap.route) && line.includes(gap.symptom)));
    expect(stale, 'known gaps that no longer happen: remove them from knownGaps').toEqual([]);
  });
});
