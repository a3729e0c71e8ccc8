/**
 * `/readyz` tells the limit store's state (issue 14): `limits: { store, ok }`,
 * with a `message` when it is down. A Redis store that does not answer (a
 * closed port; a TCP relay in front of the real Redis at 127.0.0.1:6379 shut
 * and opened again) leaves the instance ready (200): protocol traffic goes on
 * while sign-in attempts answer 503, and every instance shares that Redis. With
 * the real Redis the store is up (skipped loudly when Redis is missing, a
 * failure under CI=true). The `database` store's state is the database's, on
 * SQLite and PostgreSQL (there the database is dropped under the running
 * server: 503 with the store down too); `memory` is always up.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { freePort } from '../helpers/ports.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { postgresUrl, redisAvailable } from '../helpers/services.ts';

const redisUrl = process.env.GATEHOUSE_TEST_REDIS_READY ?? 'redis://127.0.0.1:6379/10';

interface Readiness {
  status: number;
  body: { status: string; limits?: { store: string; ok: boolean; message?: string } };
}

async function readyz(server: TestServer): Promise<Readiness> {
  const res = await fetch(`${server.url}/readyz`);
  const body = (await res.json()) as Readiness['body'];
  return { status: res.status, body };
}

/** Polls /readyz until `holds`, at most `timeoutMs`: here we wait for ioredis to reconnect (a real outside event). */
async function readyzUntil(server: TestServer, holds: (r: Readiness) => boolean, timeoutMs = 10_000): Promise<Readiness> {
  let last: Readiness | undefined;
  await vi.waitFor(
    async () => {
      last = await readyz(server);
      if (!holds(last)) throw new Error(`/readyz not yet: ${JSON.stringify(last.body)}`);
    },
    { timeout: timeoutMs, interval: 100 },
  );
  return last!;
}

/** A TCP relay to Redis on 127.0.0.1: `shut` refuses connections and cuts the open ones, `open` listens again on the same port. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async shut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe.each(databaseKinds)('/readyz with the database store on %s', (kind) => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    server = await startTestServer(db, { clients: [testClients.service] });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it("is ready, and the store's state is the database's: up", async () => {
    const answer = await readyz(server);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ready', limits: { store: 'database', ok: true } });
  });

  it.runIf(kind === 'postgres')('says the store is down with the database (dropped under the running server)', async () => {
    const name = new URL((db.config as { url: string }).url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    try {
      await admin.query(`drop database ${name} with (force)`);
    } finally {
      await admin.end();
    }
    const answer = await readyz(server);
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({
      status: 'database unreachable',
      limits: { store: 'database', ok: false, message: 'The database does not answer: limited requests answer 503.' },
    });
  });
});

describe('/readyz with the memory store', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, { clients: [testClients.service], security: { rateLimits: { store: 'memory' } } });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('is ready with the store up', async () => {
    expect(await readyz(server)).toMatchObject({ status: 200, body: { status: 'ready', limits: { store: 'memory', ok: true } } });
  });
});

describe('/readyz with the redis store on a closed port', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    const port = await freePort();
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, {
      clients: [testClients.service],
      security: { rateLimits: { store: 'redis' } },
      redis: { url: `redis://127.0.0.1:${port}/0` },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('stays ready (200) with the store down and why', async () => {
    const first = await readyz(server);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('ready');
    expect(first.body.limits).toMatchObject({ store: 'redis', ok: false });
    expect(first.body.limits?.message).toMatch(
      /^Redis does not answer \(.+\): sign-in attempts and other limited requests answer 503; protocol traffic goes on/,
    );
    // Once the connection is known to be down, the answer comes from that error.
    const second = await readyz(server);
    expect(second.body.limits).toMatchObject({ store: 'redis', ok: false });
    expect(second.body.limits?.message).toContain('ECONNREFUSED');
  });
});

describe.runIf(await redisAvailable(redisUrl))('/readyz with the redis store on the real Redis', () => {
  let db: TestDatabase;
  let server: TestServer;
  let relayed: TestServer;
  const relay = new Relay(Number(new URL(redisUrl).port || 6379));

  beforeAll(async () => {
    await relay.open();
    db = await createTestDatabase('sqlite');
    const raw = { clients: [testClients.service], security: { rateLimits: { store: 'redis' } } };
    server = await startTestServer(db, { ...raw, redis: { url: redisUrl } });
    relayed = await startTestServer(db, { ...raw, redis: { url: `redis://127.0.0.1:${relay.port}/10` } });
  });
  afterAll(async () => {
    await relayed?.stop();
    await server?.stop();
    await relay.shut();
    await db?.drop();
  });

  it('is ready with the store up, from the first answer', async () => {
    const answer = await readyz(server);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ready', limits: { store: 'redis', ok: true } });
  });

  it('says the store is down while Redis cannot be reached, and up again once it can, without a restart', async () => {
    expect((await readyz(relayed)).body.limits).toEqual({ store: 'redis', ok: true });
    await relay.shut();
    const down = await readyzUntil(relayed, (r) => r.body.limits?.ok === false);
    expect(down.status).toBe(200);
    expect(down.body.status).toBe('ready');
    expect(down.body.limits).toMatchObject({ store: 'redis', ok: false });
    await relay.open();
    const up = await readyzUntil(relayed, (r) => r.body.limits?.ok === true);
    expect(up).toMatchObject({ status: 200, body: { status: 'ready', limits: { store: 'redis', ok: true } } });
  });
});
