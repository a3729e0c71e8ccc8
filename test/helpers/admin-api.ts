/**
 * The admin API from a test: a server with one API key in its config, and a
 * `call` that sends JSON with that key (or another bearer, or none) and reads
 * the JSON answer. Every admin API test starts here.
 */
import { makeApiKey } from '../../src/admin/api-keys.ts';
import type { TestDatabase } from './databases.ts';
import { startTestServer, type TestServer } from './server.ts';
import type { GatehouseOptions } from '../../src/context.ts';

export interface AdminApi {
  server: TestServer;
  /** The API key the server's config holds (`key:tests`). */
  key: string;
  call(method: string, path: string, options?: { body?: unknown; bearer?: string | null; headers?: Record<string, string> }): Promise<ApiAnswer>;
  stop(): Promise<void>;
}

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read JSON answers loosely, field by field
  body: any;
  headers: Headers;
}

export async function startAdminApi(db: TestDatabase, raw: Record<string, unknown> = {}, options: GatehouseOptions = {}): Promise<AdminApi> {
  const { key, entry } = makeApiKey('tests');
  const extraKeys = ((raw.adminApi as { keys?: unknown[] } | undefined)?.keys ?? []) as unknown[];
  const server = await startTestServer(db, { ...raw, adminApi: { keys: [entry, ...extraKeys] } }, options);
  return {
    server,
    key,
    async call(method, path, { body, bearer, headers } = {}) {
      const token = bearer === undefined ? key : bearer;
      const response = await fetch(`${server.url}/admin/api${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: the raw text is the body
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    stop: () => server.stop(),
  };
}
