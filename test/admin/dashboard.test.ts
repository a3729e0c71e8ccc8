/**
 * The dashboard on SQLite and PostgreSQL, seeded through the domain the way
 * the server fills it: gate decisions on three different days (the injected
 * clock moves forward between them), an invitation with 4 of its 5 uses and
 * one expiring in 3 days, a pending join request whose mail fails (SMTP on a
 * port nobody listens on), and a device that enrolled. GET
 * /admin/api/dashboard with the API key answers all of it, and /admin shows
 * it to a signed-in admin: cards linking to their sections, the chart as an
 * image with its numbers in a table, no inline style anywhere.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDay } from '../../src/audit/stats.ts';
import { duration, when } from '../../src/admin/web/pages/dashboard.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { deviceJwtIssuer, deviceJwtSecret, enroll, newManufacturerId } from '../helpers/devices.ts';
import { Browserless, csrfOf } from '../helpers/http-login.ts';
import { freePort } from '../helpers/ports.ts';
import { testClients } from '../helpers/server.ts';

const day = 86_400_000;
const password = 'a long enough password';

/** Opens /admin signed out, signs in on Gatehouse's pages (and consents if asked), and lands back in the console. */
async function signInToConsole(issuer: string, email: string): Promise<Browserless> {
  const browser = new Browserless();
  let step = await browser.follow(`${issuer}/admin`, issuer);
  for (let pages = 0; pages < 4 && !new URL(step.url).pathname.startsWith('/admin'); pages += 1) {
    const html = await step.response.text();
    const csrf = csrfOf(html);
    if (html.includes('name="password"')) step = await browser.follow(`${step.url}/login`, issuer, { form: { _csrf: csrf, email, password } });
    else if (html.includes('name="decision"')) step = await browser.follow(`${step.url}/consent`, issuer, { form: { _csrf: csrf, decision: 'allow' } });
    else throw new Error(`unexpected page at ${step.url}: ${html.slice(0, 300)}`);
  }
  expect(step.response.status).toBe(200);
  expect(new URL(step.url).pathname).toBe('/admin');
  return browser;
}
const web = { ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] };

describe('dashboard words', () => {
  it('puts ages in the largest unit they nearly fill, and times in UTC', () => {
    expect(duration(20)).toBe('less than a minute');
    expect(duration(90)).toBe('2 minutes');
    expect(duration(55 * 60)).toBe('1 hour');
    expect(duration(-(2 * day - 5000) / 1000)).toBe('2 days');
    expect(duration((36 * 3600 * 1000) / 1000)).toBe('2 days');
    expect(when('2026-12-01T10:20:30.000Z')).toBe('2026-12-01 10:20 UTC');
    expect(when(null)).toBe('');
  });
});

describe.each(databaseKinds)('admin dashboard on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  /** Moves Gatehouse's clock; only ever forward, ending at the wall clock. */
  let skew = -3 * day;
  const clock: Clock = { now: () => Date.now() + skew };
  const seeded = { fourOfFive: '', expiring: '', notRunningOut: '', request: '', device: '', manufacturerId: newManufacturerId() };
  const days = { threeAgo: '', yesterday: '', today: '' };

  async function newUser(email: string, aclTokenId?: string): Promise<string> {
    const made = await api.call('POST', '/users', { body: { email, ...(aclTokenId ? { aclTokenId } : {}) } });
    expect(made.status).toBe(201);
    return made.body.id as string;
  }

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(
      db,
      {
        admins: ['root@example.com'],
        clients: [web, testClients.service],
        firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
        // Nobody listens there: every mail fails at once, and waits an hour (on the clock) for its next try.
        mailer: { host: '127.0.0.1', port: await freePort() },
        deviceRegistration: { enabled: true, jwt: { secret: deviceJwtSecret, issuer: deviceJwtIssuer }, rateLimit: 100_000 },
      },
      { clock, mail: { pollMs: 3_600_000, backoffBaseMs: 3_600_000, backoffMaxMs: 3_600_000 } },
    );
    const gh = api.server.gh;
    const client = { id: 'web', name: 'Web App' };

    // Three days ago: an invitation for 5, two of them taken.
    days.threeAgo = utcDay(clock.now());
    const invitation = await gh.aclTokens.create({ maxUsers: 5, clients: ['web'], description: 'team <b>' }, 'test');
    seeded.fourOfFive = invitation.row.id;
    await newUser('a1@example.com', invitation.row.id);
    const lapsed = await newUser('a2@example.com', invitation.row.id);

    // Yesterday: two more (4 of 5), a lapsed refresh and a wrong invitation refused.
    skew = -1 * day;
    days.yesterday = utcDay(clock.now());
    await newUser('a3@example.com', invitation.row.id);
    await newUser('a4@example.com', invitation.row.id);
    await gh.gate.recordLapsed(lapsed, 'web', 'refresh');
    const stranger = await newUser('stranger@example.com');
    await expect(gh.gate.admitKnownUser(stranger, client, 'not-an-invitation')).rejects.toMatchObject({ code: 'acl_token.not_found' });

    // Today: an invitation for one, used, then refused as used up; one expiring in 3 days; one far from running out.
    skew = 0;
    days.today = utcDay(clock.now());
    const single = await gh.aclTokens.create({ maxUsers: 1, clients: ['web'] }, 'test');
    await newUser('single@example.com', single.row.id);
    await expect(gh.gate.admitKnownUser(stranger, client, single.token)).rejects.toMatchObject({ code: 'acl_token.exhausted' });
    seeded.expiring = (await gh.aclTokens.create({ maxUsers: 10, clients: ['web'], expiresAt: clock.now() + 3 * day }, 'test')).row.id;
    const roomy = await gh.aclTokens.create({ maxUsers: 5, clients: ['web'], expiresAt: clock.now() + 30 * day }, 'test');
    seeded.notRunningOut = roomy.row.id;
    await newUser('roomy@example.com', roomy.row.id);

    // A join request waiting; its mail to the approver fails.
    const request = await gh.joinRequests.file({
      identity: { connectorId: 'local', subject: 'newcomer', email: 'newcomer@example.com', emailVerified: true },
      clientId: 'web',
      email: 'newcomer@example.com',
      name: 'New Comer',
      message: 'let me in',
    });
    seeded.request = request.id;
    await gh.sender.drained();

    // A device enrolls.
    const fleet = await gh.devices.createToken({ expiresAt: clock.now() + day, maxDevices: 0, description: 'fleet' }, 'test');
    const enrolled = await enroll(api.server.url, { token: fleet.token, manufacturerId: seeded.manufacturerId });
    expect(enrolled.status).toBe(201);
    seeded.device = enrolled.body.clientId as string;

    // The admin who looks at the console (made by hand: no invitation, no gate decision).
    await gh.users.createLocal({ email: 'root@example.com', name: 'Root', password }, 'test');
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('answers the gate decisions of 14 UTC days, per day and reason', async () => {
    const answer = await api.call('GET', '/dashboard');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const { gate } = answer.body;
    expect(gate.days).toHaveLength(14);
    expect(gate.days[13].day).toBe(days.today);
    expect(gate.to).toBe(`${utcDay(Date.now() + day)}T00:00:00.000Z`);
    expect(gate.from).toBe(`${gate.days[0].day}T00:00:00.000Z`);
    const byDay = Object.fromEntries(gate.days.map((d: { day: string }) => [d.day, d]));
    expect(byDay[days.threeAgo]).toEqual({ day: days.threeAgo, allowed: 2, refused: 0, reasons: {} });
    expect(byDay[days.yesterday]).toEqual({ day: days.yesterday, allowed: 2, refused: 2, reasons: { no_access: 1, 'acl_token.not_found': 1 } });
    expect(byDay[days.today]).toEqual({ day: days.today, allowed: 2, refused: 1, reasons: { 'acl_token.exhausted': 1 } });
    expect(gate).toMatchObject({ allowed: 6, refused: 3, reasons: { no_access: 1, 'acl_token.not_found': 1, 'acl_token.exhausted': 1 } });
    const quiet = gate.days.filter((d: { day: string }) => ![days.threeAgo, days.yesterday, days.today].includes(d.day));
    expect(quiet.every((d: { allowed: number; refused: number }) => d.allowed === 0 && d.refused === 0)).toBe(true);
  });

  it('answers who is waiting, which invitations run out, the recent enrolments and the mail queue', async () => {
    const { body } = await api.call('GET', '/dashboard');
    expect(body.requests.pending).toBe(1);
    expect(body.requests.items).toEqual([
      expect.objectContaining({ id: seeded.request, kind: 'join', email: 'newcomer@example.com', name: 'New Comer', client: 'web' }),
    ]);
    expect(body.requests.items[0].ageSeconds).toBeGreaterThanOrEqual(0);

    expect(body.invitations.runningOut).toBe(2);
    expect(body.invitations.items).toEqual([
      expect.objectContaining({ id: seeded.expiring, uses: 0, maxUsers: 10, why: ['expiry'] }),
      expect.objectContaining({ id: seeded.fourOfFive, description: 'team <b>', uses: 4, maxUsers: 5, expires: null, why: ['uses'] }),
    ]);

    expect(body.enrolments.recent).toBe(1);
    expect(body.enrolments.items).toEqual([expect.objectContaining({ clientId: seeded.device, manufacturerId: seeded.manufacturerId, disabled: null })]);

    expect(body.mail).toMatchObject({ queued: 1, failing: 1, sentRecently: 0 });
    expect(body.mail.failingItems).toEqual([expect.objectContaining({ to: 'boss@example.com', attempts: 1 })]);
    expect(body.mail.failingItems[0].error).toMatch(/ECONNREFUSED|connect/i);
    expect(body.mail.failingItems[0].subject).toContain('New Comer');
  });

  it('is documented in the OpenAPI document and needs the bearer', async () => {
    expect((await api.call('GET', '/dashboard', { bearer: null })).status).toBe(401);
    const document = await api.call('GET', '/openapi.json');
    expect(document.body.paths['/dashboard'].get.operationId).toBe('dashboard.show');
    const checked = await new Validator().validate(structuredClone(document.body));
    expect(checked.errors ?? []).toEqual([]);
    expect(checked.valid).toBe(true);
  });

  it('shows all of it at /admin to a signed-in admin, and sends a signed-out browser to sign in', async () => {
    const signedOut = await fetch(`${api.server.url}/admin`, { redirect: 'manual' });
    expect(signedOut.status).toBe(302);
    const admin = await signInToConsole(api.server.url, 'root@example.com');
    const response = await admin.request(`${api.server.url}/admin`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<h1>Dashboard</h1>');
    expect(html).toContain('aria-current="page"');
    // Who is waiting, with their age, and where to decide.
    expect(html).toContain('New Comer');
    expect(html).toContain('newcomer@example.com');
    expect(html).toMatch(/<time datetime="[^"]+" title="[^"]+">(less than a minute|\d+ minutes?)<\/time>/);
    expect(html).toContain('href="/admin/requests"');
    // Invitations running out link to their page; the description is escaped.
    expect(html).toContain(`href="/admin/invitations/${seeded.fourOfFive}"`);
    expect(html).toContain('team &lt;b&gt;');
    expect(html).toContain('4 of 5 used');
    expect(html).toContain(`href="/admin/invitations/${seeded.expiring}"`);
    expect(html).not.toContain(`/admin/invitations/${seeded.notRunningOut}"`);
    // The chart: an image with a summary, and its numbers in a table.
    expect(html).toMatch(/<svg [^>]*role="img" aria-label="Gate decisions over the last 14 days \([^)]*\): 6 allowed, 3 refused/);
    expect(html).toContain('<caption>Gate decisions per day</caption>');
    expect(html).toContain('<th scope="col">Refused: acl_token.exhausted</th>');
    expect(html).toContain(`<time datetime="${days.yesterday}">${days.yesterday}</time></th><td>2</td><td>2</td>`);
    // Recent enrolments and the mail queue with its last error.
    expect(html).toContain(seeded.manufacturerId);
    expect(html).toContain('href="/admin/devices"');
    expect(html).toContain('Last error');
    expect(html).toMatch(/ECONNREFUSED|connect/i);
    expect(html).toContain('boss@example.com');
    // The strict CSP holds: no inline style, no inline script.
    expect(html).not.toMatch(/style=/i);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
  });
});
