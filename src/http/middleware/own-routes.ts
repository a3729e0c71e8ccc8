/**
 * Gatehouse's own routers in front of oidc-provider. A request for a path the
 * routers define goes through them (their routes, then `allowedMethods` for a
 * 405 or 501); every other request goes straight on to the provider.
 *
 * Which paths are ours is read from the routers' own layers when the app is
 * built, so a route added to a router answers without being listed anywhere.
 * The test per request is one Set lookup of the first path segment (while
 * every route starts with a literal one, as all of ours do): protocol requests
 * (token, userinfo, jwks: the hot paths) skip the routers' regex matching, and
 * never meet `allowedMethods`, which would turn the provider's 404 for an
 * unusual method into a 501.
 */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import compose from 'koa-compose';

/** A first segment made of URL-unreserved characters only (or none, for `/`): a literal, not a parameter, wildcard or group. */
const literalFirstSegment = /^\/([A-Za-z0-9._~-]*)(?:\/|$)/;

export function ownRoutes(routers: readonly Router[]): Middleware {
  const dispatch = compose(routers.flatMap((router) => [router.routes(), router.allowedMethods()] as unknown as Middleware[]));
  const firstSegments = new Set<string>();
  // A layer whose path starts with a parameter or is a RegExp can match anything: then the routers' own
  // matching decides, for every request (slower, but never a 501 for a path that is not ours).
  let anyPath = false;
  for (const layer of routers.flatMap((router) => router.stack)) {
    const segment = typeof layer.path === 'string' ? literalFirstSegment.exec(layer.path)?.[1] : undefined;
    if (segment === undefined) anyPath = true;
    // Lower case: the routers match case-insensitively by default; a path that none of them takes falls through anyway.
    else firstSegments.add(segment.toLowerCase());
  }
  const ours = anyPath
    ? (path: string) => routers.some((router) => router.match(path, 'GET').path.length > 0)
    : (path: string) => firstSegments.has((path.split('/')[1] ?? '').toLowerCase());
  return (ctx, next) => (ours(ctx.path) ? dispatch(ctx, next) : next());
}
