// @koa/bodyparser fills `ctx.request.body`; declared here once instead of casting at each use.
import 'koa';

declare module 'koa' {
  interface Request {
    body?: unknown;
    rawBody?: string;
  }
}
