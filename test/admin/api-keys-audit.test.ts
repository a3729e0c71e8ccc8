/**
 * The admin API's signing keys and audit log on SQLite and PostgreSQL: keys
 * list, rotate (201, a new active key per algorithm, the old ones published
 * only), revoke a kid (an algorithm's last active key refused with 409, an
 * unknown kid 404), each audited as the API key; the audit log newest first,
 * filtered by actor, action (exact or a family), subject, client and a time
 * range (the server's clock moved, not waited for), paged (also by `before`
 * an id), a bad instant a 400
 * naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';

interface Key {
  kid: string;
  alg: string;
  state: string;
}
interface Entry {
  id: number;
  time: string;
  actor: string;
  action: string;
  subject: string | null;
  client: string | null;
  details: Record<string, unknown> | null;
}

describe.each(databaseKinds)('admin API keys and audit log on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const hour = 3_600_000;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, { admins: ['root@example.com'] }, { clock });
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  const keys = async (): Promise<Key[]> => (await api.call('GET', '/keys')).body;
  const audit = async (query: string): Promise<{ status: number; body: { items: Entry[]; nextCursor: string | null } & Record<string, unknown> }> =>
    api.call('GET', `/audit${query}`);

  it('lists, rotates and revokes signing keys, refusing the last active key of an algorithm, each audited', async () => {
    const first = await keys();
    expect(first.map((k) => `${k.alg} ${k.state}`).sort()).toEqual(['ES256 active', 'RS256 active']);

    const rotated = await api.call('POST', '/keys/rotate');
    expect(rotated.status).toBe(201);
    expect(rotated.body.map((k: Key) => `${k.alg} ${k.state}`).sort()).toEqual(['ES256 active', 'RS256 active']);
    const after = await keys();
    expect(after).toHaveLength(4);
    expect(
      after
        .filter((k) => k.state === 'retired (published)')
        .map((k) => k.kid)
        .sort(),
    ).toEqual(first.map((k) => k.kid).sort());

    const oldRs = first.find((k) => k.alg === 'RS256')!.kid;
    const revoked = await api.call('POST', `/keys/${oldRs}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ kid: oldRs, alg: 'RS256', state: 'revoked' });
    expect((await keys()).map((k) => k.kid)).not.toContain(oldRs);

    const activeRs = (rotated.body as Key[]).find((k) => k.alg === 'RS256')!.kid;
    const refused = await api.call('POST', `/keys/${activeRs}/revoke`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'signing_key.last_active', error_description: expect.stringContaining('keys rotate') });
    expect((await api.call('POST', '/keys/no-such-kid/revoke')).status).toBe(404);

    const logged = await audit('?actor=key:tests&action=keys.*');
    expect(logged.body.items.map((e) => e.action)).toEqual(['keys.revoked', 'keys.rotated']);
    expect(logged.body.items[0]).toMatchObject({ subject: oldRs, details: { kid: oldRs, alg: 'RS256' } });
    expect(logged.body.items[1]!.details?.kids).toEqual(expect.arrayContaining((rotated.body as Key[]).map((k) => k.kid)));
  });

  it('filters the audit log by actor, action, subject, client and time range, newest first, in pages', async () => {
    const start = clock.now();
    const made: string[] = [];
    for (const n of [1, 2, 3]) {
      made.push((await api.call('POST', '/users', { body: { email: `audit${n}@example.com` } })).body.id);
      offset += hour;
    }
    await api.server.gh.audit.record(api.server.gh.db, { actor: 'system', action: 'join_request.filed', subject: 'jr-1', details: { client: 'web_1' } });
    await api.server.gh.audit.record(api.server.gh.db, { actor: 'system', action: 'client.enabled', subject: 'web_1' });
    // `_` is a LIKE wildcard: the filter matches it literally.
    await api.server.gh.audit.record(api.server.gh.db, { actor: 'system', action: 'client.enabled', subject: 'web21' });
    await api.server.gh.audit.record(api.server.gh.db, { actor: 'system', action: 'join_request.filed', subject: 'jr-2', details: { client: 'webx1' } });

    const created = await audit('?actor=key:tests&action=user.created');
    expect(created.status).toBe(200);
    expect(created.body.items.map((e) => e.subject)).toEqual([...made].reverse());
    expect(created.body.items[0]).toMatchObject({ actor: 'key:tests', action: 'user.created', client: null, details: { email: 'audit3@example.com' } });
    expect(Date.parse(created.body.items[0]!.time)).toBeGreaterThan(Date.parse(created.body.items[2]!.time));
    const older = await audit(`?actor=key:tests&action=user.created&before=${created.body.items[0]!.id}`);
    expect(older.body.items.map((e) => e.subject)).toEqual([made[1], made[0]]);

    const iso = (ms: number) => new Date(ms).toISOString();
    const middle = await audit(`?action=user.created&from=${iso(start + hour - 1000)}&to=${iso(start + 2 * hour - 1000)}`);
    expect(middle.body.items.map((e) => e.subject)).toEqual([made[1]]);
    expect(
      (await audit(`?action=user.created&from=${encodeURIComponent(new Date(start + 2 * hour - 1000).toISOString().replace('Z', '+00:00'))}`)).body.items,
    ).toHaveLength(1);
    expect((await audit(`?subject=${made[0]}`)).body.items.map((e) => e.action)).toEqual(['user.created']);

    const client = await audit('?client=web_1');
    expect(client.body.items.map((e) => `${e.action} ${e.client}`)).toEqual(['client.enabled web_1', 'join_request.filed web_1']);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await audit(`?action=user.*&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(answer.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...answer.body.items.filter((e) => made.includes(e.subject ?? '')).map((e) => e.subject!));
      cursor = answer.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
  });

  it('refuses a bad instant or range with a 400 naming the field', async () => {
    expect((await audit('?from=yesterday')).body).toMatchObject({ error: 'input.invalid', field: 'from' });
    expect((await audit('?to=2026-13-01T00:00:00Z')).body).toMatchObject({ error: 'input.invalid', field: 'to' });
    expect((await audit('?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z')).body).toMatchObject({ error: 'input.invalid', field: 'to' });
    expect((await audit('?limit=0')).body).toMatchObject({ error: 'input.invalid', field: 'limit' });
    expect((await audit('?before=soon')).body).toMatchObject({ error: 'input.invalid', field: 'before' });
    expect((await audit('?actor=nobody')).body).toEqual({ items: [], nextCursor: null });
  });
});
