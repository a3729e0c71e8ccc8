/**
 * Pages of a list operation: `limit` (1-200, default 50) items after
 * `cursor`, answered as `{ items, nextCursor }` (null on the last page).
 *
 * The cursor is opaque to callers. It holds where the page's last item was
 * (its `id`, its position and, when the list is ordered by its items'
 * `created` or `time`, that instant and the ids sharing it), so the next page
 * starts right after the last item seen even when the list changed in
 * between: items added in front (the audit log, newest first), items seen and
 * then deleted or decided (a script approving the pending requests page by
 * page) neither repeat nor push others out of sight. Only a list in no such
 * order whose last seen item is gone falls back to the position.
 */
import { z } from 'zod';
import { GatehouseError } from '../../errors.ts';

export const maxPageSize = 200;
export const defaultPageSize = 50;

/** At most this many ids sharing the last item's instant ride in a cursor (beyond: the position counts). */
const maxTies = 50;

const cursorSchema = z.strictObject({
  /** the position after the page */
  o: z.number().int().min(0).max(1e9),
  /** the last item's id */
  a: z.string().max(200).optional(),
  /** the last item's instant, the order of the list (1 oldest first, -1 newest first), the ids on the page at that instant */
  k: z.string().max(40).optional(),
  d: z.union([z.literal(1), z.literal(-1)]).optional(),
  s: z.array(z.string().max(200)).max(maxTies).optional(),
});

export type PageQuery = { limit: number; offset: number; cursor?: z.output<typeof cursorSchema> | undefined };

export function pageOf(items: z.ZodType): z.ZodType {
  return z.object({ items, nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page') });
}

function decodeCursor(cursor: unknown): z.output<typeof cursorSchema> | undefined {
  if (typeof cursor !== 'string' || cursor.length > 16_000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function readPageQuery(query: Record<string, unknown>): PageQuery {
  const { limit, cursor } = query;
  let size = defaultPageSize;
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > maxPageSize) {
      throw new GatehouseError('input.invalid', `limit must be a whole number from 1 to ${maxPageSize}`, { field: 'limit' });
    }
    size = Number(limit);
  }
  if (cursor === undefined) return { limit: size, offset: 0 };
  const decoded = decodeCursor(cursor);
  if (!decoded) throw new GatehouseError('input.invalid', 'cursor is not one this API gave out (use nextCursor as it came)', { field: 'cursor' });
  return { limit: size, offset: decoded.o, cursor: decoded };
}

function field(item: unknown, name: string): unknown {
  return item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[name] : undefined;
}

function idOf(item: unknown): string | undefined {
  const id = field(item, 'id');
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
}

function instantOf(item: unknown): string | undefined {
  for (const name of ['created', 'time']) {
    const value = field(item, name);
    if (typeof value === 'string' && value.length <= 40) return value;
  }
  return undefined;
}

/** 1 when every item has an instant and they never go down, -1 when they never go up, else undefined. */
function orderOf(all: readonly unknown[]): 1 | -1 | undefined {
  const instants = all.map(instantOf);
  if (instants.some((k) => k === undefined)) return undefined;
  let up = true;
  let down = true;
  for (let i = 1; i < instants.length; i++) {
    if (instants[i]! < instants[i - 1]!) up = false;
    if (instants[i]! > instants[i - 1]!) down = false;
  }
  return up ? 1 : down ? -1 : undefined;
}

/** Where the page after `cursor` starts in `all` as it is now. */
function startOf(all: readonly unknown[], cursor: PageQuery['cursor'], offset: number): number {
  if (!cursor) return offset;
  if (cursor.a !== undefined) {
    const at = all.findIndex((item) => idOf(item) === cursor.a);
    if (at >= 0) return at + 1;
  }
  const { k, d, s = [] } = cursor;
  if (k !== undefined && d !== undefined && orderOf(all) === d) {
    const after = all.findIndex((item) => {
      const instant = instantOf(item)!;
      return d === 1 ? instant > k || (instant === k && !s.includes(idOf(item) ?? '')) : instant < k || (instant === k && !s.includes(idOf(item) ?? ''));
    });
    return after >= 0 ? after : all.length;
  }
  return offset;
}

export function page<T>(all: readonly T[], { limit, offset, cursor }: PageQuery): { items: T[]; nextCursor: string | null } {
  const start = startOf(all, cursor, offset);
  const items = all.slice(start, start + limit);
  const next = start + items.length;
  if (items.length === 0 || next >= all.length) return { items, nextCursor: null };
  const last = items.at(-1);
  const anchor = idOf(last);
  const position: z.input<typeof cursorSchema> = { o: next, ...(anchor !== undefined && anchor.length <= 200 ? { a: anchor } : {}) };
  const order = orderOf(all);
  const instant = instantOf(last);
  if (order !== undefined && instant !== undefined) {
    const ties = items.filter((item) => instantOf(item) === instant).map(idOf);
    if (ties.length <= maxTies && ties.every((id) => id !== undefined && id.length <= 200)) Object.assign(position, { k: instant, d: order, s: ties });
  }
  return { items, nextCursor: Buffer.from(JSON.stringify(position)).toString('base64url') };
}
