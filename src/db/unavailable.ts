/**
 * The one place that tells "the database is not there right now" from every
 * other database error. Callers above src/db/ see `database.unavailable` (a
 * 503 with Retry-After, exit code 69) instead of a driver's error, so none of
 * them needs to know pg's SQLSTATEs, Node's socket codes or SQLite's result
 * codes. Anything not listed here is a bug or bad data and stays as it is.
 * Part of the database flavour: ./flavor.ts re-exports it.
 */
import { GatehouseError, isGatehouseError } from '../errors.ts';

/** Socket-level failures on the way to the server (refused, reset, no route, name not resolved). */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * PostgreSQL SQLSTATEs that mean the server is going away, not up yet, full or
 * refusing this login: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting or in recovery), 53300 too_many_connections,
 * 3D000 no such database, 28000/28P01 login refused. Class 08 (connection
 * exception) is matched by prefix.
 */
const postgresCodes = new Set(['57P01', '57P02', '57P03', '53300', '3D000', '28000', '28P01']);

/**
 * SQLite: the lock was still held when busy_timeout ran out (BUSY), the file
 * cannot be opened (CANTOPEN), the disk failed (IOERR) or is full (FULL). The
 * extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE…) share the prefix.
 */
const sqlitePrefixes = ['SQLITE_BUSY', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL'];

/** pg's own errors on a dead connection carry no code, only these words. */
const postgresMessages = [/Connection terminated/i, /Connection ended unexpectedly/i, /not queryable/i, /connection timeout/i];

/** Did this error come from a database that cannot be reached or used right now? */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (isGatehouseError(err, 'database.unavailable')) return true;
  if (!(err instanceof Error)) return false;
  // knex: no pooled connection within acquireConnectionTimeout (the server does not answer, or every connection is stuck).
  if (err.name === 'KnexTimeoutError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (networkCodes.has(code) || postgresCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (sqlitePrefixes.some((prefix) => code.startsWith(prefix))) return true;
  }
  // A connect that failed on every address comes as an AggregateError of socket errors.
  if (err instanceof AggregateError && err.errors.some(isDatabaseUnavailable)) return true;
  return postgresMessages.some((words) => words.test(err.message));
}

/** The error as callers should see it: `database.unavailable` (with the driver's error as its cause), or unchanged. */
export function asDatabaseError(err: unknown): unknown {
  if (!isDatabaseUnavailable(err) || isGatehouseError(err)) return err;
  const { message, name, code } = err as Error & { code?: unknown };
  // The driver's own words and code go to the log with this error; people see only the sentence.
  const details = { reason: message.split('\n')[0], driverCode: typeof code === 'string' ? code : name };
  return new GatehouseError('database.unavailable', 'Gatehouse cannot reach its database right now. Please try again in a minute.', details, { cause: err });
}
