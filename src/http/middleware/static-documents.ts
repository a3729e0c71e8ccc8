/**
 * Discovery and JWKS are the same for every request until the process restarts
 * (keys are loaded at start; `keys rotate` takes effect on restart). The first
 * answer oidc-provider gives is kept and served directly afterwards, with a
 * Cache-Control header so clients and proxies may keep it briefly too.
 */
import type { Context, Next } from 'koa';

const paths = new Set(['/.well-known/openid-configuration', '/jwks']);

export function staticDocuments() {
  const kept = new Map<string, { type: string; body: string }>();
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'GET' || !paths.has(ctx.path)) return next();
    const hit = kept.get(ctx.path);
    if (hit && !ctx.get('origin')) {
      ctx.type = hit.type;
      ctx.body = hit.body;
    } else {
      await next();
      if (ctx.status === 200 && !ctx.get('origin')) {
        kept.set(ctx.path, { type: ctx.response.get('Content-Type') || 'application/json', body: typeof ctx.body === 'string' ? ctx.body : JSON.stringify(ctx.body) });
      }
    }
    ctx.set('Cache-Control', 'public, max-age=300');
  };
}
