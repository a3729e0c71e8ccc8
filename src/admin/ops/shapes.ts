/**
 * Schema pieces shared by the admin operations: timestamps as ISO strings,
 * ids in paths, and the conversion of epoch milliseconds. The CLI's `--json`
 * and the admin API print the same shapes, so both go through these.
 */
import { z } from 'zod';

/** An instant as an ISO 8601 string, or null when there is none (no expiry, never revoked). */
export const instant = z.iso.datetime().nullable();

/** Epoch milliseconds as an ISO string, or null. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** An id in a path (`/users/:id`). */
export const idParam = z.string().min(1).max(200);

/** The body of an operation that deletes something. */
export const deleted = z.object({ id: z.string(), deleted: z.literal(true) });
