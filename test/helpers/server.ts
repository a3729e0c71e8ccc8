/**
 * A real Gatehouse server for tests: listens on 127.0.0.1 with an OS-picked
 * port, the issuer derived from it, on the database it is given. Config is the
 * same schema users write (`raw` is what would be in config.yaml).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { createGatehouse, type Gatehouse, type GatehouseOptions } from '../../src/context.ts';
import { startServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/lib/logger.ts';
import type { TestDatabase } from './databases.ts';

export interface TestServer {
  url: string;
  port: number;
  gh: Gatehouse;
  config: Config;
  stop(): Promise<void>;
  /**
   * Stops the server so that another can start on its port (its issuer): each
   * open connection is ended from the server's side first, and awaited until
   * the client has closed it too (at most 5 s), so the next request never goes
   * out on a keep-alive socket of the old server. Only between requests.
   */
  stopForRestart(): Promise<void>;
}

export const testClients = {
  web: { client_id: 'web', client_secret: 'web-secret-0123456789', client_name: 'Web App', grant_types: ['authorization_code', 'refresh_token'] },
  service: {
    client_id: 'service',
    client_secret: 'service-secret-0123456789',
    client_name: 'Service',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  tv: {
    client_id: 'tv',
    client_name: 'Living-room TV',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
} as const;

export function buildConfig(raw: Record<string, unknown>, db: TestDatabase): Config {
  const parsed = configSchema.parse({ log: { level: 'silent' }, ...raw, database: db.config });
  return { ...parsed, baseDir: db.dir, mailer: { ...parsed.mailer, outbox: path.resolve(db.dir, parsed.mailer.outbox) } };
}

export async function startTestServer(
  db: TestDatabase,
  raw: Record<string, unknown> = {},
  options: GatehouseOptions & { port?: number } = {},
): Promise<TestServer> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const config = buildConfig({ issuer: `http://127.0.0.1:${port}`, ...raw }, db);
  const gh = createGatehouse(config, {
    logger: createLogger(process.env.GATEHOUSE_TEST_LOG ?? 'silent'),
    mail: { pollMs: 200, backoffBaseMs: 200, backoffMaxMs: 1000 },
    ...options,
  });
  const running = await startServer(gh, server);
  const stopForRestart = async () => {
    const closed = [...sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.end();
        }),
    );
    const bound = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([Promise.all(closed), bound]);
    await running.stop();
  };
  return { url: running.url, port, gh, config, stop: running.stop, stopForRestart };
}
