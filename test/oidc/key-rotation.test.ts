/**
 * Key rotation and revocation are live: `gatehouse keys rotate` and `keys
 * revoke` (the real commands, run in this process) change the keys in the
 * database, and every running server, of several on one database, publishes
 * and signs with the new set within one refresh interval, without a restart,
 * on both issuers (its own and the Keycloak realm). Time moves on the servers'
 * injected clock: no test waits. Two servers on PostgreSQL, one on SQLite.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRefreshIntervalMs } from '../../src/oidc/key-refresh.ts';
import { exitCodes } from '../../src/cli/exit-codes.ts';
import { databaseYaml, writeWorkspace, type CliWorkspace } from '../cli/gatehouse.ts';
import { expectRefusal, parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { Browserless, obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };
const realmName = 'live';
const person = { email: 'rivest@example.com', password: 'shamir-adleman-77' };

interface KeyJson {
  kid: string;
  alg: string;
  state: string;
}

describe.each(databaseKinds)('live signing keys on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  const servers: TestServer[] = [];
  // Frozen, so a server looks at the database only when the test moves time on.
  const start = Date.now();
  let skew = 0;
  const clock = { now: () => start + skew };
  const oneInterval = () => {
    skew += keyRefreshIntervalMs;
  };
  const browsers = new Map<string, Browserless>();

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const raw = { clients: [web], compat: { keycloak: { realm: realmName } } };
    for (let i = 0; i < (kind === 'postgres' ? 2 : 1); i += 1) servers.push(await startTestServer(db, raw, { clock }));
    await servers[0]!.gh.users.createLocal(person, 'test');
    ws = writeWorkspace(db, `issuer: http://127.0.0.1:3000\ndatabase: ${databaseYaml(db)}\nlog: { level: warn }\n`);
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
    ws?.cleanup();
    await db?.drop();
  });

  const cli = (...args: string[]) => runInProcess(['--config', ws.configPath, ...args]);
  const realmOf = (server: TestServer) => `${server.url}/realms/${realmName}`;
  const jwks = async (url: string) => (await (await fetch(url)).json()) as JSONWebKeySet;
  /** The kids each issuer of each server publishes, e.g. `{ 'A main': [...], 'A realm': [...] }`. */
  const published = async () => {
    const out: Record<string, string[]> = {};
    for (const [i, server] of servers.entries()) {
      const name = 'AB'[i];
      out[`${name} main`] = (await jwks(`${server.url}/jwks`)).keys.map((k) => String(k.kid)).sort();
      out[`${name} realm`] = (await jwks(`${realmOf(server)}/protocol/openid-connect/certs`)).keys.map((k) => String(k.kid)).sort();
    }
    return out;
  };
  const everywhere = (kids: string[]) =>
    Object.fromEntries(servers.flatMap((_, i) => ['main', 'realm'].map((issuer) => [`${'AB'[i]} ${issuer}`, [...kids].sort()])));
  /** An ID token from `issuer` (signed in once per issuer, then the session is reused). */
  const idToken = async (issuer: string, endpoints: { auth: string; tokenBase: string }) => {
    const browser = browsers.get(issuer) ?? new Browserless();
    browsers.set(issuer, browser);
    const { code, verifier } = await obtainCode(issuer, { clientId: 'web', redirectUri, ...person, browser, authorizationEndpoint: endpoints.auth });
    const res = await tokenRequest(endpoints.tokenBase, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return String(res.body.id_token);
  };
  const mainToken = (server: TestServer) => idToken(server.url, { auth: `${server.url}/auth`, tokenBase: server.url });
  const realmToken = (server: TestServer) =>
    idToken(realmOf(server), {
      auth: `${realmOf(server)}/protocol/openid-connect/auth`,
      tokenBase: `${realmOf(server)}/protocol/openid-connect`,
    });
  const last = () => servers[servers.length - 1]!;
  const activeRs = async () => (await servers[0]!.gh.keys.list()).find((k) => k.alg === 'RS256' && k.state === 'active')!.kid;

  it('publishes rotated keys on every server and signs with them within one refresh interval, without a restart', async () => {
    const before = (await servers[0]!.gh.keys.list()).map((k) => k.kid);
    expect(await published()).toEqual(everywhere(before));
    const oldRs = await activeRs();
    expect(decodeProtectedHeader(await mainToken(last())).kid).toBe(oldRs);

    const rotated = parsed<KeyJson[]>(await cli('keys', 'rotate', '--json'));
    const newRs = rotated.find((k) => k.alg === 'RS256')!.kid;
    oneInterval();

    // The old keys stay published (tokens they signed still verify); the new ones sign.
    expect(await published()).toEqual(everywhere([...before, ...rotated.map((k) => k.kid)]));
    // Relying parties may keep it half a minute more: a change reaches them within a minute.
    expect((await fetch(`${last().url}/jwks`)).headers.get('cache-control')).toBe('public, max-age=30');
    const token = await mainToken(last());
    expect(decodeProtectedHeader(token).kid).toBe(newRs);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks(`${servers[0]!.url}/jwks`)), { issuer: last().url, audience: 'web' });
    expect(payload.sub).toEqual(expect.any(String));
  });

  it("refuses to revoke an algorithm's last active key, or a kid it does not know", async () => {
    const onlyRs = await activeRs();
    expectRefusal(
      await cli('keys', 'revoke', onlyRs),
      exitCodes['signing_key.last_active'],
      new RegExp(`${onlyRs} is the only active RS256 key.*gatehouse keys rotate`),
    );
    expectRefusal(await cli('keys', 'revoke', 'no-such-kid'), exitCodes.not_found, /No published signing key has the kid "no-such-kid"/);
    expect((await servers[0]!.gh.keys.list()).map((k) => k.kid)).toContain(onlyRs);
  });

  it('revoking the key servers sign with takes it out of every JWKS and out of signing within one interval, audited', async () => {
    // Rotate, then at once revoke the key the servers were signing with (a leaked key): they have not looked yet.
    const leaked = await activeRs();
    expect(decodeProtectedHeader(await mainToken(last())).kid).toBe(leaked);
    const rotated = parsed<KeyJson[]>(await cli('keys', 'rotate', '--json'));
    const fresh = rotated.find((k) => k.alg === 'RS256')!.kid;
    const revoke = await cli('keys', 'revoke', leaked);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toMatch(new RegExp(`kid\\s+${leaked}`));
    expect(revoke.stdout).toContain(`within ${keyRefreshIntervalMs / 1000} seconds; no restart needed`);
    oneInterval();

    const now = await published();
    for (const kids of Object.values(now)) {
      expect(kids).not.toContain(leaked);
      expect(kids).toContain(fresh);
    }
    for (const token of [await mainToken(last()), await realmToken(last())]) {
      expect(decodeProtectedHeader(token).kid).toBe(fresh);
      await jwtVerify(token, createLocalJWKSet(await jwks(`${servers[0]!.url}/jwks`)), { audience: 'web' });
    }
    const audit = (await servers[0]!.gh.db('audit_log').where({ action: 'keys.revoked' }).select('subject', 'actor')) as { subject: string; actor: string }[];
    expect(audit).toEqual([{ subject: leaked, actor: expect.stringMatching(/^cli:/) }]);
  });
});
