/**
 * Second factors in the admin API on SQLite and PostgreSQL: `users.show` lists
 * a user's factors (kind, name, created, last used; never a secret),
 * `users.resetMfa` (POST /users/:id/mfa/reset) removes them with the recovery
 * codes, audited; `aclTokens.create` takes `requireMfa`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeStep, totpCode } from '../../src/identity/mfa/totp.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { testClients } from '../helpers/server.ts';

describe.each(databaseKinds)('second factors in the admin API on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { admins: ['root@example.com'], clients: [{ ...testClients.web, redirect_uris: ['http://127.0.0.1:9/cb'] }] });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('shows the factors of a user and resets them', async () => {
    const made = await api.call('POST', '/users', { body: { email: `reset-${kind}@example.com`, password: 'a-long-password-1' } });
    expect(made.status).toBe(201);
    expect(made.body.factors).toEqual([]);
    const { gh } = api.server;
    const enrollment = await gh.mfa.startTotp(made.body.id, 'me');
    await gh.mfa.confirmTotp(made.body.id, enrollment.factorId, await totpCode(enrollment.secret.replace(/\s+/g, ''), timeStep(gh.clock.now())));

    const shown = await api.call('GET', `/users/${made.body.id}`);
    expect(shown.body.factors).toEqual([{ kind: 'totp', name: 'Authenticator app', created: expect.any(String), lastUsed: expect.any(String) }]);
    expect(JSON.stringify(shown.body)).not.toContain(enrollment.secret.replace(/\s+/g, ''));

    const reset = await api.call('POST', `/users/${made.body.id}/mfa/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ id: made.body.id, factors: [], removed: { factors: 1, recoveryCodes: 10 } });
    const audit = await gh.db('audit_log').where({ action: 'mfa.reset', subject: made.body.id });
    expect(audit).toHaveLength(1);
    expect(audit[0].actor).not.toBe(made.body.id);
    expect((await api.call('POST', '/users/no-such-user/mfa/reset')).status).toBe(404);
  });

  it('creates an invitation that requires a second factor', async () => {
    const made = await api.call('POST', '/acl-tokens', { body: { maxUsers: 1, clients: ['web'], requireMfa: true } });
    expect(made.status).toBe(201);
    expect(made.body.requireMfa).toBe(true);
    expect((await api.call('GET', `/acl-tokens/${made.body.id}`)).body.requireMfa).toBe(true);
    const plain = await api.call('POST', '/acl-tokens', { body: { maxUsers: 1, clients: ['web'] } });
    expect(plain.body.requireMfa).toBeUndefined();
  });
});
