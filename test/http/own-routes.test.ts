/**
 * Gatehouse's own routers in front of oidc-provider (http/middleware/own-routes.ts):
 * which paths are ours is read from the routers themselves, so a route added to
 * a router answers without being listed anywhere, and every other request goes
 * on to the provider untouched (the real provider's endpoints are covered by
 * the protocol tests; here a stand-in answers after the routers, as in app.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownRoutes } from '../../src/http/middleware/own-routes.ts';

describe('own routes in front of the provider', () => {
  let server: http.Server;
  let url: string;
  const seenByProvider: string[] = [];

  beforeAll(async () => {
    // A router with a prefix no Gatehouse route has used, and one whose paths start with a parameter.
    const added = new Router();
    added.get('/brand-new/:id', (ctx) => {
      ctx.body = `brand-new ${ctx.params.id}`;
    });
    added.post('/brand-new/:id', (ctx) => {
      ctx.status = 201;
    });
    const tenants = new Router();
    tenants.get('/:tenant/home', (ctx) => {
      ctx.body = `home of ${ctx.params.tenant}`;
    });
    const app = new Koa();
    app.use(ownRoutes([added]));
    app.use(ownRoutes([tenants]));
    app.use((ctx) => {
      seenByProvider.push(`${ctx.method} ${ctx.path}`);
      ctx.status = 404;
      ctx.body = 'provider';
    });
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('answers a route added to a router, in any case, without a list of prefixes', async () => {
    const res = await fetch(`${url}/brand-new/42`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('brand-new 42');
    expect((await fetch(`${url}/Brand-New/7`)).status).toBe(200);
    expect((await fetch(`${url}/brand-new/42`, { method: 'POST' })).status).toBe(201);
    expect(seenByProvider.filter((seen) => seen.includes('rand-')).length).toBe(0);
  });

  it('answers a wrong method on one of its paths with 405 and Allow, not the provider', async () => {
    const res = await fetch(`${url}/brand-new/42`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/GET.*POST|POST.*GET/);
  });

  it('passes every other path on to the provider untouched, an unusual method too (no 501 from the routers)', async () => {
    const token = await fetch(`${url}/token`, { method: 'POST' });
    expect(token.status).toBe(404);
    expect(await token.text()).toBe('provider');
    const purge = await fetch(`${url}/jwks`, { method: 'PURGE' });
    expect(purge.status).toBe(404);
    expect(await purge.text()).toBe('provider');
    expect(seenByProvider).toEqual(expect.arrayContaining(['POST /token', 'PURGE /jwks']));
  });

  it('lets a router whose paths start with a parameter answer them, the rest still reaching the provider', async () => {
    const res = await fetch(`${url}/acme/home`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('home of acme');
    expect(await (await fetch(`${url}/acme/elsewhere`)).text()).toBe('provider');
  });
});
