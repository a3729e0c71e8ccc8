/**
 * The admin API's pages (src/admin/api/pagination.ts): `limit` 1-200, an
 * opaque `cursor` that is the `nextCursor` of the page before; the next page
 * starts after the last item seen wherever it is now, so paging through a
 * list while it changes neither repeats nor skips: users deleted on earlier
 * pages, audit entries (newest first) added in front. Only when the last item
 * seen has gone does the position count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { page, readPageQuery } from '../../src/admin/api/pagination.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `u${i + 1}` }));
const ids = (list: Array<{ id: unknown }>) => list.map((item) => String(item.id));

describe('pages, as functions', () => {
  it('reads limit and cursor, refusing anything it did not give out, naming the field', () => {
    expect(readPageQuery({})).toEqual({ limit: 50, offset: 0 });
    expect(readPageQuery({ limit: '200' }).limit).toBe(200);
    for (const limit of ['0', '201', '-1', '1.5', 'ten', '', '00000000000000000001']) {
      expect(() => readPageQuery({ limit }), limit).toThrow(expect.objectContaining({ code: 'input.invalid', details: { field: 'limit' } }));
    }
    expect(() => readPageQuery({ limit: ['1', '2'] })).toThrow(expect.objectContaining({ details: { field: 'limit' } }));
    for (const cursor of ['nonsense', Buffer.from('o-1').toString('base64url'), Buffer.from('x12').toString('base64url'), 'a'.repeat(1000)]) {
      expect(() => readPageQuery({ cursor }), cursor).toThrow(expect.objectContaining({ code: 'input.invalid', details: { field: 'cursor' } }));
    }
  });

  it('walks a list once, and goes on after the last item seen when items before it come or go', () => {
    const first = page(items(5), { limit: 2, offset: 0 });
    expect(ids(first.items)).toEqual(['u1', 'u2']);
    // u1 goes and a new item comes in front: the next page still starts after u2.
    const changed = [{ id: 'new' }, ...items(5).slice(1)];
    const second = page(changed, readPageQuery({ limit: '2', cursor: first.nextCursor }));
    expect(ids(second.items)).toEqual(['u3', 'u4']);
    const third = page(changed, readPageQuery({ limit: '2', cursor: second.nextCursor }));
    expect(ids(third.items)).toEqual(['u5']);
    expect(third.nextCursor).toBeNull();
    expect(page([], { limit: 50, offset: 0 })).toEqual({ items: [], nextCursor: null });
    expect(page(items(2), { limit: 2, offset: 0 }).nextCursor).toBeNull();
  });

  it('places a vanished last item by its instant when the list is ordered by it, ties included', () => {
    const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s)).toISOString();
    // Oldest first, u2 and u3 in the same millisecond across the page boundary.
    const all = [
      { id: 'u1', created: at(1) },
      { id: 'u2', created: at(2) },
      { id: 'u3', created: at(2) },
      { id: 'u4', created: at(3) },
      { id: 'u5', created: at(4) },
    ];
    const first = page(all, { limit: 2, offset: 0 });
    // Everything seen is gone (deleted, decided): the next page is u3, not u5.
    expect(ids(page(all.slice(2), readPageQuery({ limit: '2', cursor: first.nextCursor })).items)).toEqual(['u3', 'u4']);
    // Newest first (the audit log), with new entries in front and the last seen gone.
    const newest = [...all].reverse();
    const top = page(newest, { limit: 2, offset: 0 });
    expect(ids(top.items)).toEqual(['u5', 'u4']);
    const later = [{ id: 'u6', created: at(5) }, ...newest.filter((item) => item.id !== 'u4')];
    expect(ids(page(later, readPageQuery({ limit: '2', cursor: top.nextCursor })).items)).toEqual(['u3', 'u2']);
    // In no such order, a vanished last item leaves the position (z, moved up into it, is passed over).
    const unordered = [{ id: 'x' }, { id: 'y' }, { id: 'z' }, { id: 'w' }];
    const one = page(unordered, { limit: 2, offset: 0 });
    expect(ids(page([{ id: 'x' }, { id: 'z' }, { id: 'w' }], readPageQuery({ limit: '2', cursor: one.nextCursor })).items)).toEqual(['w']);
  });
});

describe('pages of the admin API while the lists change', () => {
  let db: TestDatabase;
  let api: AdminApi;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    api = await startAdminApi(db);
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('skips nobody when the users already seen are deleted between pages (all of them)', async () => {
    const made: string[] = [];
    for (const n of [1, 2, 3, 4, 5, 6]) made.push((await api.call('POST', '/users', { body: { email: `walk${n}@example.com` } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await api.call('GET', `/users?q=walk&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(answer.status).toBe(200);
      seen.push(...ids(answer.body.items));
      // Clean up what this page showed before asking for the next one.
      for (const id of ids(answer.body.items)) expect((await api.call('DELETE', `/users/${id}`)).status).toBe(200);
      cursor = answer.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(made);
  });

  it('repeats no audit entry when new ones arrive in front (newest first)', async () => {
    for (const n of [1, 2, 3, 4]) await api.call('POST', '/users', { body: { email: `audit${n}@example.com` } });
    const first = await api.call('GET', '/audit?limit=3');
    expect(first.body.items).toHaveLength(3);
    // Three more entries land in front of the ones already seen.
    for (const n of [5, 6, 7]) await api.call('POST', '/users', { body: { email: `audit${n}@example.com` } });
    const second = await api.call('GET', `/audit?limit=3&cursor=${first.body.nextCursor}`);
    expect(second.status).toBe(200);
    const firstIds = ids(first.body.items).map(Number);
    const secondIds = ids(second.body.items).map(Number);
    expect(secondIds.filter((id) => firstIds.includes(id))).toEqual([]);
    // Newest first: the second page goes on with older entries than the first page's last one.
    expect(Math.max(...secondIds)).toBeLessThan(Math.min(...firstIds));
  });
});
