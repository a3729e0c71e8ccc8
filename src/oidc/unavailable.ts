/**
 * Database outages inside oidc-provider. Any error there that is not one of its
 * own classes becomes a 500 `server_error` ("oops! something went wrong"), so
 * our code that oidc-provider calls (the adapter, findAccount, the access
 * check) hands `database.unavailable` on as `temporarily_unavailable` with
 * status 503: JSON for clients, our error page for people (renderError), and
 * the outer error middleware adds Retry-After. The GatehouseError stays the
 * cause, so our own routes that call into oidc-provider (interaction details)
 * still see `database.unavailable`.
 */
import { errors } from 'oidc-provider';
import { isGatehouseError, type GatehouseError } from '../errors.ts';

export function asProviderError(err: unknown): unknown {
  if (!isGatehouseError(err, 'database.unavailable')) return err;
  const unavailable = new errors.TemporarilyUnavailable(err.message, { cause: err });
  // oidc-provider makes every such class a 400; this one is ours to answer as 503 (expose stays true: the words are ours).
  unavailable.status = 503;
  unavailable.statusCode = 503;
  return unavailable;
}

/** The `database.unavailable` this error is or stands for, if any (an oidc-provider call from our own routes). */
export function outageIn(err: unknown): GatehouseError | undefined {
  if (isGatehouseError(err, 'database.unavailable')) return err;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return isGatehouseError(cause, 'database.unavailable') ? cause : undefined;
}

/** `work`, with an outage answered as oidc-provider's `temporarily_unavailable`. */
export function reportingOutages<A extends unknown[], R>(work: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await work(...args);
    } catch (err) {
      throw asProviderError(err);
    }
  };
}
