/**
 * Signing keys live in the database: made once, shared, rotated. After a
 * rotation new ID tokens are signed with the new key while the old one stays
 * published until everything it signed has expired.
 */
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { Keys } from '../../src/oidc/keys.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { obtainCode, tokenRequest } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri] };

describe.each(databaseKinds)('signing keys on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [web] });
    await server.gh.users.createLocal({ email: 'whit@example.com', password: 'diffie-hellman-76' }, 'test');
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const idTokenKid = async () => {
    const { code, verifier } = await obtainCode(server.url, { clientId: 'web', redirectUri, email: 'whit@example.com', password: 'diffie-hellman-76' });
    const res = await tokenRequest(server.url, web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    return decodeProtectedHeader(String(res.body.id_token)).kid;
  };

  it('signs with the new key after a rotation and keeps the old one published until it expires', async () => {
    const before = await server.gh.keys.list();
    expect(before.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    const oldRs = before.find((k) => k.alg === 'RS256')!.kid;
    expect(await idTokenKid()).toBe(oldRs);

    const made = await server.gh.keys.rotate();
    const { port } = server;
    // The client's keep-alive sockets to the old server are closed before the port is reused.
    await server.stopForRestart();
    server = await startTestServer(db, { clients: [web] }, { port });

    const newRs = made.find((k) => k.alg === 'RS256')!.kid;
    expect(await idTokenKid()).toBe(newRs);
    const published = ((await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldRs, newRs]));
    expect(published).toHaveLength(4);

    // Once the longest token lifetime has passed, the retired keys are no longer published.
    const later = createKnex(db.config);
    await migrateLatest(later);
    const future = new Keys(later, { now: () => Date.now() + 15 * 24 * 3600 * 1000 }, 14 * 24 * 3600 * 1000);
    expect((await future.list()).map((k) => k.kid).sort()).toEqual(made.map((k) => k.kid).sort());
    await later.destroy();
  });
});
