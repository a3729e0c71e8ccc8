/**
 * Redirect URIs match exactly: every near miss is refused with an error page and
 * no redirect, so nothing can turn the authorization endpoint into an open redirect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { pkcePair } from '../helpers/http-login.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';

const registered = 'https://app.example.com/cb';
const nearMisses = [
  'https://app.example.com/cb/',
  'https://app.example.com/CB',
  'https://APP.example.com/cb',
  'HTTPS://app.example.com/cb',
  'https://app.example.com/cb?extra=1',
  'https://app.example.com/cb#fragment',
  'https://app.example.com/cb/../cb',
  'https://app.example.com/cb/..;/evil',
  'https://app.example.com/%2e%2e/cb',
  'https://app.example.com/cb%2f..%2fevil',
  'https://app.example.com:443/cb',
  'https://app.example.com:8443/cb',
  'http://app.example.com/cb',
  'https://evil.example@app.example.com/cb',
  'https://app.example.com@evil.example/cb',
  'https://app.example.com.evil.example/cb',
  'https://evil.example/cb',
  '//evil.example/cb',
  'javascript:alert(document.domain)',
  'data:text/html,<script>alert(1)</script>',
  ' https://app.example.com/cb',
  'https://app.example.com/cb ',
];

describe('redirect_uri matching', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, { clients: [{ ...testClients.web, redirect_uris: [registered] }] });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const authorize = (redirectUri: string) => {
    const url = new URL(`${server.url}/auth`);
    url.search = new URLSearchParams({
      client_id: 'web',
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirectUri,
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
      state: 's',
    }).toString();
    return fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  };

  it.each(nearMisses)('refuses %s without redirecting', async (candidate) => {
    const res = await authorize(candidate);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('redirect_uri');
    expect(html).not.toMatch(/\bat .*\.(js|ts):\d+/);
  });

  it('accepts the registered URI exactly', async () => {
    const res = await authorize(registered);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/\/interaction\//);
  });
});
