/**
 * The counts under concurrency (SPEC 5, style habit 5), over HTTP, on SQLite
 * and PostgreSQL: a registration token for 10 clients raced by 20 parallel
 * registrations registers exactly 10 and refuses exactly 10 as used up; the
 * maxClients policy raced the same way lets exactly as many in as are left,
 * and the losers' token uses are given back; invalid requests never hold a use;
 * parallel reads with one registration access token get one successor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { count, register, registrationConfig, serviceMetadata, usesOf, webMetadata } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const maxClients = 25;

describe.each(databaseKinds)('counted registration on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, registrationConfig({ initialAccessToken: 'required', policies: { maxClients } }));
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('registers exactly 10 clients with a token for 10 raced by 20 parallel registrations', async () => {
    const { row, token } = await server.gh.registrationTokens.create({ count: 10, expiresAt: Date.now() + 3_600_000 }, 'test');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        register(
          server.url,
          i % 2 ? serviceMetadata({ client_name: `racer ${i}` }) : webMetadata(`http://127.0.0.1:9/cb${i}`, { client_name: `racer ${i}` }),
          token,
        ),
      ),
    );

    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(10);
    expect(lost).toHaveLength(10);
    for (const a of lost) {
      expect(a.status, a.text).toBe(401);
      expect(a.body.error).toBe('invalid_token');
      expect(a.body.error_description).toBe('this registration token has been used up (10 of 10 clients registered)');
      expect(a.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    const ids = won.map((a) => String(a.body.client_id));
    expect(new Set(ids).size).toBe(10);

    expect(await usesOf(server.gh, row.id)).toBe(10);
    const records = (await server.gh.registrar.listRegistered()).filter((r) => r.registration_token_id === row.id);
    expect(records.map((r) => r.client_id).sort()).toEqual([...ids].sort());
    expect(await count(server.gh, 'registered_client', { registration_token_id: row.id })).toBe(10);
    expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(10);
    const registeredAudits = await server.gh.db('audit_log').where({ action: 'client.registered' }).whereIn('subject', ids);
    expect(registeredAudits).toHaveLength(10);
  });

  it('lets every valid registration in when invalid ones race it for the same token (they never hold a use)', async () => {
    const { row, token } = await server.gh.registrationTokens.create({ count: 3, expiresAt: Date.now() + 3_600_000 }, 'test');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        register(server.url, i % 4 === 0 ? serviceMetadata() : serviceMetadata({ token_endpoint_auth_method: 'bogus' }), token),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 400 && a.body.error === 'invalid_client_metadata')).toHaveLength(9);
    expect(await usesOf(server.gh, row.id)).toBe(3);
  });

  it('gives one successor for a registration access token read in parallel; the other reads are refused', async () => {
    const { token } = await server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 3_600_000 }, 'test');
    const made = await register(server.url, serviceMetadata(), token);
    expect(made.status, made.text).toBe(201);
    const uri = String(made.body.registration_client_uri);
    const rat = String(made.body.registration_access_token);
    const reads = await Promise.all(Array.from({ length: 4 }, () => fetch(uri, { headers: { authorization: `Bearer ${rat}` } })));
    const ok = reads.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(reads.filter((r) => r.status === 401)).toHaveLength(3);
    const successor = String(((await ok[0]!.json()) as { registration_access_token: string }).registration_access_token);
    expect((await fetch(uri, { headers: { authorization: `Bearer ${successor}` } })).status).toBe(200);
  });

  it("lets exactly as many registrations in as maxClients has left when they race, and gives the losers' uses back", async () => {
    const before = await count(server.gh, 'registered_client');
    const left = maxClients - before;
    expect(left).toBeGreaterThan(0);
    const racers = left * 2;
    const { row, token } = await server.gh.registrationTokens.create({ count: racers, expiresAt: Date.now() + 3_600_000 }, 'test');
    const answers = await Promise.all(Array.from({ length: racers }, () => register(server.url, serviceMetadata(), token)));

    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(left);
    for (const a of lost) {
      expect(a.status, a.text).toBe(400);
      expect(a.body.error).toBe('invalid_client_metadata');
      expect(a.body.error_description).toBe(`policy maxClients: the limit of ${maxClients} registered clients has been reached`);
    }
    expect(await count(server.gh, 'registered_client')).toBe(maxClients);
    expect(await count(server.gh, 'oidc_model', { kind: 'Client' })).toBe(maxClients);
    expect(await usesOf(server.gh, row.id)).toBe(left);
  });
});
