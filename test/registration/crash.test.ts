/**
 * A crash never leaves a counted ghost (SPEC 5), on SQLite and PostgreSQL: the
 * real `gatehouse serve` is SIGKILLed in the middle of parallel registrations
 * with one counted token, several times, and restarted. A registration is a
 * reservation (a use of the token, the record), the client and its
 * registration access token in one transaction, the record written 'stored',
 * and only after its commit does the answer leave. A record in state
 * 'reserved' is what an earlier version could leave between two commits; the
 * repair at start-up removes those older than its bound, with any client
 * stored for them, and gives their uses back. Deterministic part:
 * reservations built directly in the database (one without a client, one
 * whose client was stored just before the crash, one still in flight on
 * another instance) are settled by the next start. After all the kills, with
 * the clock past the bound, two
 * instances repairing at once give every use back exactly once: the token's
 * `uses` (as `registration-token show` prints it) equals the clients that
 * exist from it, and maxClients counts only those.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { countRegisteredClients, insertRegisteredClient, takeRegistrationTokenUse } from '../../src/db/repos/registration.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { randomId } from '../../src/lib/secrets.ts';
import { modelRow, upsertModel } from '../../src/db/repos/oidc-models.ts';
import { adapterFactory } from '../../src/oidc/adapter.ts';
import { reservationBoundMs } from '../../src/registration/registrar.ts';
import { binPath, childEnv, cliTimeouts, type CliWorkspace, databaseYaml, freePort, writeWorkspace } from '../cli/gatehouse.ts';
import { parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { register, serviceMetadata } from '../helpers/registration.ts';
import { buildConfig } from '../helpers/server.ts';

vi.setConfig(cliTimeouts);

const kills = 3;
const parallel = 6;
const registration = { enabled: true, initialAccessToken: 'required', policies: { maxClients: 10_000 } };

describe.each(databaseKinds)('registrations interrupted by a crash on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  let issuer: string;
  /** This process's view of the same database; `later` sees a clock past the repair bound. */
  let gh: Gatehouse;
  let later: Gatehouse[] = [];
  let child: ChildProcessWithoutNullStreams | undefined;
  let output = '';
  let tokenId: string;
  let token: string;
  const acknowledged: string[] = [];

  const raw = { issuer: '', registration };

  async function start(): Promise<void> {
    output = '';
    child = spawn(process.execPath, [binPath, '--config', ws.configPath, 'serve'], { cwd: ws.cwd, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${output}`);
      if (Date.now() - started > 120_000) throw new Error(`serve did not start within 120 s: ${output}`);
      // Ready only after the start-up repair: it runs before the server listens.
      if ((await fetch(`${issuer}/healthz`).catch(() => undefined))?.status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function kill(): Promise<void> {
    const running = child!;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  /** A reservation as `reserve` writes it, `ageMs` old, its use taken. */
  async function reservation(ageMs: number, withClient: boolean): Promise<string> {
    const clientId = randomId();
    const now = Date.now();
    expect(await takeRegistrationTokenUse(gh.db, tokenId, now)).toBe(true);
    await insertRegisteredClient(gh.db, {
      client_id: clientId,
      registration_token_id: tokenId,
      via: 'rfc7591',
      kind: 'device',
      disabled_reason: null,
      disabled_at: null,
      created_at: now - ageMs,
      state: 'reserved',
    });
    if (withClient) {
      const payload = {
        client_id: clientId,
        client_secret: 'stored-before-the-crash-0123456789',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      };
      await upsertModel(gh.db, modelRow('Client', clientId, JSON.stringify(payload)));
    }
    return clientId;
  }

  const uses = async () => (await gh.registrationTokens.get(tokenId)).uses;
  const stateOf = async (clientId: string) =>
    ((await gh.db('registered_client').where({ client_id: clientId }).first()) as { state?: string } | undefined)?.state;
  /** Clients from the token that really exist (Gatehouse's record and oidc-provider's metadata). */
  const realClients = async () =>
    Number(
      (
        await gh
          .db('registered_client as r')
          .join('oidc_model as m', (j) => j.on('m.id', 'r.client_id').andOnVal('m.kind', 'Client'))
          .where('r.registration_token_id', tokenId)
          .count<{ n: number | string }[]>({ n: '*' })
          .first()
      )?.n ?? 0,
    );

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    issuer = `http://127.0.0.1:${await freePort()}`;
    raw.issuer = issuer;
    ws = writeWorkspace(
      db,
      [`issuer: ${issuer}`, `database: ${databaseYaml(db)}`, `registration: ${JSON.stringify(registration)}`, 'log: { level: warn }', ''].join('\n'),
    );
    const config = buildConfig(raw, db);
    gh = createGatehouse(config, { logger: createLogger('silent') });
    await migrateLatest(gh.db);
    ({
      row: { id: tokenId },
      token,
    } = await gh.registrationTokens.create({ count: 10_000, expiresAt: Date.now() + 3_600_000 }, 'test'));
    later = [0, 1].map(() =>
      createGatehouse(buildConfig(raw, db), { logger: createLogger('silent'), clock: { now: () => Date.now() + reservationBoundMs + 1000 } }),
    );
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) await kill();
    for (const other of [gh, ...later]) await other?.close();
    ws?.cleanup();
    await db?.drop();
  });

  it('undoes at start-up what a crash left, with or without a stored client, giving the uses back, and leaves a reservation in flight alone', async () => {
    const ghost = await reservation(2 * reservationBoundMs, false);
    const halfDone = await reservation(2 * reservationBoundMs, true);
    const inFlight = await reservation(0, false);
    expect(await uses()).toBe(3);

    await start();
    expect(await stateOf(ghost)).toBeUndefined();
    expect(await stateOf(halfDone)).toBeUndefined();
    expect(await gh.db('oidc_model').where({ kind: 'Client', id: halfDone })).toEqual([]);
    expect(await stateOf(inFlight)).toBe('reserved');
    expect(await uses()).toBe(1);
    const undone = await gh.db('audit_log').where({ action: 'client.registration_undone' }).whereIn('subject', [ghost, halfDone]);
    expect(undone).toHaveLength(2);
  });

  it(`keeps every acknowledged client and no ghost after ${kills} kills in the middle of parallel registrations`, async () => {
    for (let round = 0; round < kills; round += 1) {
      if (round > 0) await start();
      let stop = false;
      let firstWin: () => void = () => undefined;
      const won = new Promise<void>((resolve) => (firstWin = resolve));
      const workers = Array.from({ length: parallel }, async () => {
        while (!stop) {
          const answer = await register(issuer, serviceMetadata({ client_name: `round ${round}` }), token).catch(() => undefined);
          if (answer?.status === 201) {
            acknowledged.push(String(answer.body.client_id));
            firstWin();
          } else if (answer && !stop) {
            throw new Error(`registration answered ${answer.status}: ${answer.text}`);
          }
        }
      });
      // (A worker that got a refusal ends the wait with its error.)
      await Promise.race([won, Promise.all(workers)]);
      // A random moment while registrations are in flight.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 150));
      stop = true;
      await kill();
      await Promise.all(workers);
    }

    // Every 201 a registrant got is a stored client: the answer leaves only after the record says 'stored'.
    for (const clientId of acknowledged) expect(await stateOf(clientId), clientId).toBe('stored');

    // Later, past the bound: two instances start at once and repair together. (On SQLite they take turns:
    // better-sqlite3 waits for a lock synchronously, so two connections in one process would block each other.)
    const repair = (other: Gatehouse) => other.registrar.repairReservations();
    const results = kind === 'postgres' ? await Promise.all(later.map(repair)) : [await repair(later[0]!), await repair(later[1]!)];
    const undone = results.flatMap((r) => r.undone);
    expect(new Set(undone).size).toBe(undone.length);
    console.info(`${kind}: ${acknowledged.length} clients acknowledged, ${undone.length} interrupted registrations undone`);

    expect(await gh.db('registered_client').where({ state: 'reserved' })).toEqual([]);
    expect(await uses()).toBe(await realClients());
    expect(await countRegisteredClients(gh.db)).toBe(await realClients());
    const shown = parsed<{ uses: number }>(await runInProcess(['--config', ws.configPath, 'registration-token', 'show', tokenId, '--json']));
    expect(shown.uses).toBe(await realClients());
    // Beyond the acknowledged ones, at most the registrations whose answer the kill cut off after the record said 'stored'.
    expect(await realClients()).toBeGreaterThanOrEqual(acknowledged.length);
    expect(await realClients()).toBeLessThanOrEqual(acknowledged.length + kills * parallel);
  });

  it('writes a registration in one transaction with its registration access token: before that store nothing is written, so a repair finds nothing to undo', async () => {
    const before = await uses();
    // oidc-provider's stores through the adapter: the client's is held, and written with its registration access token and the reservation.
    const Adapter = adapterFactory(gh.db, gh.clock, gh.registrar.storeWork.bind(gh.registrar));
    const reservation = await gh.registrar.reserve({ metadata: serviceMetadata(), token, sourceIp: '127.0.0.1', via: 'rfc7591' });
    const payload = { client_id: reservation.clientId, client_secret: 'stored-0123456789', ...serviceMetadata() };
    await new Adapter('Client').upsert(reservation.clientId, payload, 0);
    // Held: no use, no record, no client yet. A repair (an instance whose clock is past the bound) at this moment has nothing of it to undo.
    expect(await uses()).toBe(before);
    expect(await stateOf(reservation.clientId)).toBeUndefined();
    expect(await gh.db('oidc_model').where({ kind: 'Client', id: reservation.clientId })).toEqual([]);
    expect((await later[0]!.registrar.repairReservations()).undone).toEqual([]);
    await new Adapter('RegistrationAccessToken').upsert(randomId(), { clientId: reservation.clientId }, 0);
    // All of it at once: the use, the record ('stored'), the client.
    expect(await uses()).toBe(before + 1);
    expect(await stateOf(reservation.clientId)).toBe('stored');
    expect(await gh.db('oidc_model').where({ kind: 'Client', id: reservation.clientId })).toHaveLength(1);
    await gh.registrar.settle(reservation, true);
    expect(await uses()).toBe(await realClients());
  });

  it('writes nothing for a registration whose registration access token is never stored (oidc-provider failed in between)', async () => {
    const before = await uses();
    const Adapter = adapterFactory(gh.db, gh.clock, gh.registrar.storeWork.bind(gh.registrar));
    const reservation = await gh.registrar.reserve({ metadata: serviceMetadata(), token, sourceIp: '127.0.0.1', via: 'rfc7591' });
    await new Adapter('Client').upsert(reservation.clientId, { client_id: reservation.clientId, ...serviceMetadata() }, 0);
    await gh.registrar.settle(reservation, false);
    expect(await uses()).toBe(before);
    expect(await stateOf(reservation.clientId)).toBeUndefined();
    expect(await gh.db('oidc_model').where({ kind: 'Client', id: reservation.clientId })).toEqual([]);
  });
});
