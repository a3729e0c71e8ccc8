/**
 * The admin API's client routes on SQLite and PostgreSQL, with the API key the
 * config holds: list and show static (config.yaml) and registered clients with
 * their source, state, held reason, registration token and users with access;
 * enable, disable, delete and set the approvers of a registered client (its
 * request and approval mails then go to them); static clients are refused with
 * a clear 400, unknown ids are a 404, bad e-mails name the field, and every
 * change is audited as `key:tests`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { clientCredentials, register, registered, registrationConfig, serviceMetadata, webMetadata } from '../helpers/registration.ts';
import { testClients } from '../helpers/server.ts';

const redirectUri = 'http://127.0.0.1:9/cb';
const web = { ...testClients.web, redirect_uris: [redirectUri], approvers: ['owner@example.com'] };
const day = 86_400_000;

describe.each(databaseKinds)('admin API clients on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, {
      clients: [web, testClients.service],
      admins: ['root@example.com'],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      ...registrationConfig({ initialAccessToken: 'required' }),
    });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  const mailsTo = async (to: string) => (await api.server.gh.db('mail_outbox').where({ to }).select('subject')).map((m: { subject: string }) => m.subject);

  async function registerWith(metadata: Record<string, unknown>, approval = false) {
    const { row, token } = await api.server.gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + day, approval }, 'test');
    return { tokenId: row.id, made: registered(await register(api.server.url, metadata, token)) };
  }

  it('lists static and registered clients with source, state, held reason, registration token and users with access', async () => {
    const { tokenId, made } = await registerWith(serviceMetadata({ client_name: 'Held Sensor' }), true);
    const { row: invitation } = await api.server.gh.aclTokens.create({ maxUsers: 5, clients: ['web'] }, 'test');
    await api.call('POST', '/users', { body: { email: 'user-of-web@example.com', aclTokenId: invitation.id } });

    const listed = await api.call('GET', '/clients');
    expect(listed.status).toBe(200);
    const byId = new Map(listed.body.items.map((c: { id: string }) => [c.id, c]));
    expect(byId.get('web')).toMatchObject({ source: 'static', state: 'enabled', heldReason: null, approvers: ['owner@example.com'], usersWithAccess: 1 });
    expect(byId.get('service')).toMatchObject({ source: 'static', usersWithAccess: 0, registrationTokenId: null });
    expect(byId.get(made.client_id)).toMatchObject({
      name: 'Held Sensor',
      source: 'registered',
      state: 'disabled (approval)',
      heldReason: 'approval',
      registrationTokenId: tokenId,
      approvers: [],
      grantTypes: ['client_credentials'],
    });
    expect(JSON.stringify(listed.body)).not.toContain(made.client_secret);
    expect((await api.call('GET', '/clients?source=registered')).body.items.map((c: { source: string }) => c.source)).not.toContain('static');

    const shown = await api.call('GET', '/clients/web');
    expect(shown.body).toMatchObject({ id: 'web', name: 'Web App', source: 'static', metadata: { client_id: 'web', redirect_uris: [redirectUri] } });
    expect(shown.body.metadata).not.toHaveProperty('client_secret');
    expect(shown.body.metadata).not.toHaveProperty('approvers');
  });

  it("sets a registered client's approvers: its join requests and its approval mail go to them; [] clears them", async () => {
    const { made } = await registerWith(webMetadata(redirectUri, { client_name: 'Team Wiki' }), true);
    expect(await mailsTo('boss@example.com')).toContain('A new client waits for approval: Team Wiki');

    const set = await api.call('PUT', `/clients/${made.client_id}/approvers`, { body: { approvers: ['Lead@Example.com', 'second@example.com'] } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: made.client_id, source: 'registered', approvers: ['lead@example.com', 'second@example.com'] });
    expect((await api.call('GET', `/clients/${made.client_id}`)).body.approvers).toEqual(['lead@example.com', 'second@example.com']);
    // Held for approval: the new approvers are asked now.
    expect(await mailsTo('lead@example.com')).toContain('A new client waits for approval: Team Wiki');
    expect(await mailsTo('second@example.com')).toContain('A new client waits for approval: Team Wiki');

    await api.server.gh.joinRequests.file({
      identity: { connectorId: 'local', subject: `${kind}-wiki-asker`, emailVerified: true },
      clientId: made.client_id,
      email: 'asker@example.com',
      name: 'Wiki Asker',
      message: '',
    });
    expect(await mailsTo('lead@example.com')).toContain('Join request for Team Wiki from Wiki Asker');
    expect(await mailsTo('boss@example.com')).not.toContain('Join request for Team Wiki from Wiki Asker');

    const audit = await api.server.gh.db('audit_log').where({ actor: 'key:tests', action: 'client.approvers_set', subject: made.client_id });
    expect(audit).toHaveLength(1);

    const cleared = await api.call('PUT', `/clients/${made.client_id}/approvers`, { body: { approvers: [] } });
    expect(cleared.body.approvers).toEqual([]);
    expect(await api.server.gh.joinRequests.approversFor(made.client_id)).toEqual(['boss@example.com']);
  });

  it('disables, enables and deletes a registered client, auditing each as the API key', async () => {
    const { made } = await registerWith(serviceMetadata({ client_name: 'Spare Service' }));
    expect((await clientCredentials(api.server.url, made.client_id, made.client_secret)).status).toBe(200);
    expect((await api.call('POST', `/clients/${made.client_id}/disable`)).body).toEqual({ id: made.client_id, state: 'disabled (admin)' });
    expect((await clientCredentials(api.server.url, made.client_id, made.client_secret)).status).toBe(401);
    expect((await api.call('GET', `/clients/${made.client_id}`)).body).toMatchObject({ state: 'disabled (admin)', heldReason: 'admin' });
    expect((await api.call('POST', `/clients/${made.client_id}/enable`)).body).toEqual({ id: made.client_id, state: 'enabled' });
    expect((await clientCredentials(api.server.url, made.client_id, made.client_secret)).status).toBe(200);
    expect((await api.call('DELETE', `/clients/${made.client_id}`)).body).toEqual({ id: made.client_id, state: 'deleted' });
    expect((await api.call('GET', `/clients/${made.client_id}`)).status).toBe(404);
    const actions = await api.server.gh.db('audit_log').where({ actor: 'key:tests', subject: made.client_id }).select('action');
    expect(actions.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['client.disabled', 'client.enabled', 'client.deleted']));
  });

  it('refuses changes to static clients with a clear 400, unknown ids with a 404, and names the field of a bad e-mail', async () => {
    for (const [method, path, body] of [
      ['POST', '/clients/web/disable', undefined],
      ['POST', '/clients/web/enable', undefined],
      ['DELETE', '/clients/web', undefined],
      ['PUT', '/clients/web/approvers', { approvers: ['x@example.com'] }],
    ] as const) {
      const answer = await api.call(method, path, body ? { body } : {});
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('input.invalid');
      expect(answer.body.error_description ?? answer.body.message).toMatch(/web is a static client.*config\.yaml/);
    }
    expect((await api.call('GET', '/clients/web')).body.approvers).toEqual(['owner@example.com']);

    for (const [method, path] of [
      ['GET', '/clients/nope'],
      ['POST', '/clients/nope/disable'],
      ['POST', '/clients/nope/enable'],
      ['DELETE', '/clients/nope'],
    ] as const) {
      expect((await api.call(method, path)).status).toBe(404);
    }
    expect((await api.call('PUT', '/clients/nope/approvers', { body: { approvers: ['a@example.com'] } })).status).toBe(404);

    const { made } = await registerWith(serviceMetadata({ client_name: 'Strict Service' }));
    const bad = await api.call('PUT', `/clients/${made.client_id}/approvers`, { body: { approvers: ['a@example.com', 'not-an-email'] } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'input.invalid', field: 'approvers' });
    expect((await api.call('PUT', `/clients/${made.client_id}/approvers`, { body: {} })).body).toMatchObject({ field: 'approvers' });
    expect((await api.call('PUT', `/clients/${made.client_id}/approvers`, { body: { approvers: 'a@example.com' } })).body).toMatchObject({
      field: 'approvers',
    });
    expect((await api.call('GET', '/clients?source=bogus')).body).toMatchObject({ error: 'input.invalid', field: 'source' });
    expect((await api.call('GET', `/clients/${made.client_id}`)).body.approvers).toEqual([]);
  });
});
