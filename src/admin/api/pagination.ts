/**
 * Pages of a list operation: `limit` (1-200, default 50) items after
 * `cursor`, answered as `{ items, nextCursor }` (null on the last page). The
 * cursor is opaque to callers: the position after the page's last item,
 * encoded. Lists are ordered oldest first, so new items land on later pages.
 */
import { z } from 'zod';
import { GatehouseError } from '../../errors.ts';

export const maxPageSize = 200;
export const defaultPageSize = 50;

export function pageOf(items: z.ZodType): z.ZodType {
  return z.object({ items, nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page') });
}

export function readPageQuery(query: Record<string, unknown>): { limit: number; offset: number } {
  const { limit, cursor } = query;
  let size = defaultPageSize;
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > maxPageSize) {
      throw new GatehouseError('input.invalid', `limit must be a whole number from 1 to ${maxPageSize}`, { field: 'limit' });
    }
    size = Number(limit);
  }
  let offset = 0;
  if (cursor !== undefined) {
    const decoded = typeof cursor === 'string' ? /^o(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
    if (!decoded) throw new GatehouseError('input.invalid', 'cursor is not one this API gave out (use nextCursor as it came)', { field: 'cursor' });
    offset = Number(decoded[1]);
  }
  return { limit: size, offset };
}

export function page<T>(all: readonly T[], { limit, offset }: { limit: number; offset: number }): { items: T[]; nextCursor: string | null } {
  const items = all.slice(offset, offset + limit);
  const next = offset + items.length;
  return { items, nextCursor: next < all.length ? Buffer.from(`o${next}`).toString('base64url') : null };
}
