/**
 * Discovery and JWKS change rarely: the first answer oidc-provider gives is
 * kept and served directly afterwards, with a Cache-Control header so clients
 * and proxies may keep it briefly too. `version` names the provider's current
 * key set (it changes when keys are rotated or revoked, oidc/key-refresh.ts);
 * when it changes, the kept answers are dropped and asked for again.
 */
import type { Context, Next } from 'koa';

/**
 * How long clients and proxies may keep each answer (seconds). The JWKS briefly:
 * a rotated or revoked key reaches relying parties within a minute, 30 s until
 * every server has looked (oidc/key-refresh.ts) plus 30 s in their caches.
 */
const maxAge = new Map([
  ['/.well-known/openid-configuration', 300],
  ['/jwks', 30],
]);

export function staticDocuments(version: () => unknown = () => undefined) {
  const kept = new Map<string, { type: string; body: string }>();
  let keptFor = version();
  const serve = async (ctx: Context, next: Next, age: number): Promise<void> => {
    const current = version();
    if (current !== keptFor) {
      kept.clear();
      keptFor = current;
    }
    const hit = kept.get(ctx.path);
    if (hit && !ctx.get('origin')) {
      ctx.type = hit.type;
      ctx.body = hit.body;
    } else {
      await next();
      // Kept only if the keys did not change while it was made (it would be kept under the new version).
      if (ctx.status === 200 && !ctx.get('origin') && version() === current && keptFor === current) {
        kept.set(ctx.path, {
          type: ctx.response.get('Content-Type') || 'application/json',
          body: typeof ctx.body === 'string' ? ctx.body : JSON.stringify(ctx.body),
        });
      }
    }
    ctx.set('Cache-Control', `public, max-age=${age}`);
  };
  // Every other request passes straight on, without an async frame of its own (the token endpoint's polls go through here).
  return (ctx: Context, next: Next): Promise<void> => {
    const age = ctx.method === 'GET' ? maxAge.get(ctx.path) : undefined;
    return age === undefined ? (next() as Promise<void>) : serve(ctx, next, age);
  };
}
