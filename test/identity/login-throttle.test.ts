/**
 * The login throttle cannot be turned against an account's owner: wrong passwords
 * from many IPs slow the account down with growing delays (429 + Retry-After,
 * from the injected clock) for the IPs that failed, while the owner's right
 * password from an IP that has not been failing goes through. The tight limits
 * stay: per (account, IP) and per IP. After 100 failures in a row (NIST SP
 * 800-63B) the account is refused from every IP but the owner's known ones, until
 * a success or 24 h. Over HTTP with `trustProxy` and `X-Forwarded-For` for the
 * IPs; the ceiling on the throttle itself (100 password hashes would cost seconds), over
 * its own memory store (the server's counts in its database, the default store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginThrottle, consecutiveFailureCeiling, failureRunMemoryMs } from '../../src/identity/login-throttle.ts';
import { MemoryLimiterStore } from '../../src/lib/limiter-store.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, csrfOf, pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const minute = 60_000;

/** A clock that stands still until the test moves it; the server and the throttle read it. */
function movableClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('login throttle over HTTP', () => {
  let db: TestDatabase;
  let server: TestServer;
  const clock = movableClock();
  const owners = ['owner', 'pair', 'spray', 'delays'].map((name) => ({ email: `${name}@example.com`, password: `right password of ${name}` }));

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(
      db,
      {
        clients: [{ ...testClients.web, redirect_uris: [redirectUri] }],
        trustProxy: true,
        security: { maxLoginFailures: 5, loginWindow: '15m' },
      },
      { clock },
    );
    for (const o of owners) await server.gh.users.createLocal(o, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  /** A sign-in page of its own (cookies, CSRF); its form can be posted from any IP. */
  async function openLogin(): Promise<{ browser: Browserless; interaction: string; csrf: string }> {
    const browser = new Browserless();
    const auth = `${server.url}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: 'S256' })}`;
    const start = await browser.request(auth);
    const interaction = new URL(start.headers.get('location')!, server.url).href;
    const csrf = csrfOf(await (await browser.request(interaction)).text());
    return { browser, interaction, csrf };
  }

  /** Posts e-mail and password as if from `ip` (behind the trusted proxy). */
  async function attempt(
    login: { browser: Browserless; interaction: string; csrf: string },
    ip: string,
    email: string,
    password: string,
  ): Promise<{ status: number; retryAfter: number | undefined; html: string }> {
    const url = `${login.interaction}/login`;
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: login.browser.jar.header(url), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', 'x-forwarded-for': ip },
      body: new URLSearchParams({ _csrf: login.csrf, email, password }).toString(),
    });
    login.browser.jar.store(response);
    const retryAfter = response.headers.get('retry-after');
    return { status: response.status, retryAfter: retryAfter === null ? undefined : Number(retryAfter), html: await response.text() };
  }

  it("lets the owner's right password in from a fresh IP after wrong passwords from 20 IPs, and delays the IPs that failed", async () => {
    const [owner] = owners;
    const attacker = await openLogin();
    for (let i = 1; i <= 20; i += 1) expect((await attempt(attacker, `10.0.0.${i}`, owner!.email, `guess ${i}`)).status).toBe(401);
    // An IP that has been failing waits (the 20th failure in a row: the longest delay, the window).
    const delayed = await attempt(attacker, '10.0.0.1', owner!.email, 'guess again');
    expect(delayed.status).toBe(429);
    expect(delayed.retryAfter).toBe(15 * 60);
    expect(delayed.html).toContain('Too many failed sign-in attempts. Try again in 15 minutes.');
    // Its right password waits too: from there the account cannot be told apart from a guesser.
    expect((await attempt(attacker, '10.0.0.2', owner!.email, owner!.password)).status).toBe(429);
    // The owner, from an IP that has not been failing, is not held up at all.
    const home = await attempt(await openLogin(), '192.0.2.10', owner!.email, owner!.password);
    expect(home.status).toBe(303);
    expect(home.retryAfter).toBeUndefined();
  });

  it('stops one IP after 5 wrong passwords for an account, its right password included, and only that IP', async () => {
    const owner = owners[1]!;
    const login = await openLogin();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await attempt(login, '10.1.0.1', owner.email, `wrong ${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const stopped = await attempt(login, '10.1.0.1', owner.email, owner.password);
    expect(stopped.status).toBe(429);
    expect(stopped.retryAfter).toBeGreaterThan(14 * 60);
    expect(stopped.retryAfter).toBeLessThanOrEqual(15 * 60);
    // The owner elsewhere signs in.
    expect((await attempt(await openLogin(), '192.0.2.20', owner.email, owner.password)).status).toBe(303);
    // That IP is still stopped for that account until its failures leave the window (15 min, by the clock).
    expect((await attempt(login, '10.1.0.1', owner.email, owner.password)).status).toBe(429);
    clock.advance(15 * minute + 1000);
    const later = await openLogin();
    expect((await attempt(later, '10.1.0.1', owner.email, owner.password)).status).toBe(303);
  });

  it('stops an IP after 20 wrong passwords over any accounts, for every account', async () => {
    const login = await openLogin();
    for (let i = 0; i < 20; i += 1) expect((await attempt(login, '10.2.0.1', `nobody-${i}@example.com`, 'a guess')).status).toBe(401);
    const stopped = await attempt(login, '10.2.0.1', owners[2]!.email, owners[2]!.password);
    expect(stopped.status).toBe(429);
    expect(stopped.retryAfter).toBeGreaterThan(0);
    expect((await attempt(login, '10.2.0.2', owners[2]!.email, owners[2]!.password)).status).toBe(303);
  });

  it('makes the account wait longer after each further failure: 1 s, 2 s, 4 s, 8 s', async () => {
    const owner = owners[3]!;
    const login = await openLogin();
    for (let i = 1; i <= 5; i += 1) expect((await attempt(login, `10.3.0.${i}`, owner.email, `guess ${i}`)).status).toBe(401);
    const waits: number[] = [];
    for (let round = 1; round <= 4; round += 1) {
      const ip = `10.3.0.${round}`;
      const held = await attempt(login, ip, owner.email, 'one more guess');
      expect(held.status).toBe(429);
      waits.push(held.retryAfter!);
      // Still waiting a moment before the end; heard once the wait is over (and failing again).
      clock.advance(held.retryAfter! * 1000 - 500);
      expect((await attempt(login, ip, owner.email, 'too early')).status).toBe(429);
      clock.advance(500);
      expect((await attempt(login, ip, owner.email, `guess after ${round}`)).status).toBe(401);
    }
    expect(waits).toEqual([1, 2, 4, 8]);
    // The owner's success ends the run: the failing IPs are heard at once again.
    expect((await attempt(await openLogin(), '192.0.2.30', owner.email, owner.password)).status).toBe(303);
    expect((await attempt(login, '10.3.0.5', owner.email, 'fresh start')).status).toBe(401);
  });
});

describe('login throttle: the ceiling of 100 failures in a row', () => {
  const options = { maxFailures: 5, windowMs: 15 * minute };

  it('refuses the account from every new IP after 100 failures in a row, until a success from a known IP or 24 h', async () => {
    const clock = movableClock();
    const throttle = new LoginThrottle(options, clock);
    await throttle.succeeded('ada@example.com', '192.0.2.1');
    // 100 failures from 100 fresh IPs: none of them is delayed (each has not been failing)...
    for (let i = 0; i < consecutiveFailureCeiling; i += 1) {
      expect(await throttle.waitMs('ada@example.com', `10.9.${i >> 8}.${i & 255}`)).toBe(0);
      await throttle.failed('ada@example.com', `10.9.${i >> 8}.${i & 255}`);
    }
    // ...but the 101st is refused, from any IP the account has not signed in from, for 24 h.
    expect(await throttle.waitMs('ada@example.com', '198.51.100.7')).toBe(failureRunMemoryMs);
    clock.advance(failureRunMemoryMs - 1000);
    expect(await throttle.waitMs('ada@example.com', '198.51.100.7')).toBe(1000);
    // The owner's known IP is still heard, and a success there ends the refusal.
    expect(await throttle.waitMs('ada@example.com', '192.0.2.1')).toBe(0);
    await throttle.succeeded('ada@example.com', '192.0.2.1');
    expect(await throttle.waitMs('ada@example.com', '198.51.100.7')).toBe(0);
    // Other accounts were never affected.
    expect(await throttle.waitMs('bob@example.com', '198.51.100.7')).toBe(0);
  });

  it('lifts the ceiling 24 h after the last failure without a success', async () => {
    const clock = movableClock();
    const throttle = new LoginThrottle(options, clock);
    for (let i = 0; i < consecutiveFailureCeiling; i += 1) await throttle.failed('eve@example.com', `10.8.${i >> 8}.${i & 255}`);
    expect(await throttle.waitMs('eve@example.com', '198.51.100.8')).toBeGreaterThan(0);
    clock.advance(failureRunMemoryMs);
    expect(await throttle.waitMs('eve@example.com', '198.51.100.8')).toBe(0);
  });

  it('grows the delay by doubling from the 5th failure in a row, up to the window', () => {
    const throttle = new LoginThrottle(options, movableClock());
    expect([4, 5, 6, 7, 14, 15, 99].map((n) => throttle.delayMs(n))).toEqual([0, 1000, 2000, 4000, 512_000, 15 * minute, 15 * minute]);
  });
});

describe('login throttle: what a success writes', () => {
  const options = { maxFailures: 5, windowMs: 15 * minute };

  /** The in-memory store, with every write it is asked for written down. */
  function countingStore(clock: ReturnType<typeof movableClock>) {
    const store = new MemoryLimiterStore(clock);
    const writes: string[] = [];
    const incr = store.incr.bind(store);
    const remove = store.delete.bind(store);
    store.incr = (key, windowMs, hit) => (writes.push(`incr ${key}`), incr(key, windowMs, hit));
    store.delete = (key) => (writes.push(`delete ${key}`), remove(key));
    return { store, writes };
  }

  it('writes nothing for a clean sign-in from an IP renewed within the day, and resets what the check saw otherwise', async () => {
    const clock = movableClock();
    const { store, writes } = countingStore(clock);
    const throttle = new LoginThrottle(options, clock, store);
    const signIn = async (ip: string) => throttle.succeeded('ada@example.com', ip, await throttle.check('ada@example.com', ip));

    // The first sign-in from an IP remembers it; nothing was failing, so nothing is reset.
    await signIn('192.0.2.1');
    expect(writes).toEqual(['incr login.known:ada@example.com\n192.0.2.1']);
    // Again within the day: no write at all.
    writes.length = 0;
    clock.advance(23 * 3600_000);
    await signIn('192.0.2.1');
    expect(writes).toEqual([]);
    // A day after the last renewal the IP is renewed again.
    clock.advance(3600_000 + 1);
    await signIn('192.0.2.1');
    expect(writes).toEqual(['incr login.known:ada@example.com\n192.0.2.1']);

    // After a wrong password the success resets the pair and the run, and the IP's memory is still fresh.
    await throttle.failed('ada@example.com', '192.0.2.1');
    writes.length = 0;
    await signIn('192.0.2.1');
    expect(writes.sort()).toEqual(['delete login.pair:ada@example.com\n192.0.2.1', 'delete login.run:ada@example.com']);
    expect(await store.peek('login.run:ada@example.com')).toBeUndefined();

    // Without a check (a caller that has none), everything is written, as before.
    writes.length = 0;
    await throttle.succeeded('ada@example.com', '192.0.2.1');
    expect(writes).toHaveLength(3);
  });

  it('still delays strangers after the owner signs in without writes: the known IP comes from the same check', async () => {
    const clock = movableClock();
    const throttle = new LoginThrottle(options, clock);
    await throttle.succeeded('ada@example.com', '192.0.2.1', await throttle.check('ada@example.com', '192.0.2.1'));
    for (let i = 0; i < 5; i += 1) await throttle.failed('ada@example.com', '10.1.0.1');
    const stranger = await throttle.check('ada@example.com', '10.1.0.1');
    const owner = await throttle.check('ada@example.com', '192.0.2.1');
    expect(stranger.waitMs).toBeGreaterThan(0);
    expect(owner).toEqual({ waitMs: 0, failures: true, knownFresh: true });
  });
});
