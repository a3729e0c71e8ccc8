/**
 * `gatehouse client list|show` with static clients from config.yaml (their
 * secrets from the environment): listed without secrets, shown one by one, and
 * an unknown id refused with one clear line. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { cliTimeouts, type CliWorkspace, databaseYaml, messageLines, runGatehouse, runJson, stackLine, writeWorkspace } from './gatehouse.ts';

vi.setConfig(cliTimeouts);

const appSecret = 'app-secret-from-the-environment-0123';
const serviceSecret = 'service-secret-written-in-config-4567';

interface ClientJson {
  id: string;
  name: string | null;
  source: string;
  grantTypes: string[];
  redirectUris: string[];
  approvers?: string[];
  metadata?: Record<string, unknown>;
}

describe.each(databaseKinds)('gatehouse client on %s', (kind) => {
  let db: TestDatabase;
  let ws: CliWorkspace;
  const options = () => ({ cwd: ws.cwd, env: { APP_SECRET: appSecret } });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ws = writeWorkspace(
      db,
      [
        'issuer: http://127.0.0.1:3000',
        `database: ${databaseYaml(db)}`,
        'clients:',
        '  - client_id: app',
        '    client_secret: "${APP_SECRET}"',
        '    client_name: App',
        '    redirect_uris: [https://app.example.com/cb]',
        '    grant_types: [authorization_code, refresh_token]',
        '    approvers: [owner@example.com]',
        '  - client_id: service',
        `    client_secret: ${serviceSecret}`,
        '    client_name: Service',
        '    grant_types: [client_credentials]',
        '    response_types: []',
        '    redirect_uris: []',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    ws?.cleanup();
    await db?.drop();
  });

  it('lists the static clients from config.yaml without any client_secret', async () => {
    const result = await runGatehouse(['--config', ws.configPath, 'client', 'list', '--json'], options());
    expect(result.code).toBe(0);
    const clients = JSON.parse(result.stdout) as ClientJson[];
    expect(clients).toEqual([
      expect.objectContaining({
        id: 'app',
        name: 'App',
        source: 'static',
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: ['https://app.example.com/cb'],
      }),
      expect.objectContaining({ id: 'service', name: 'Service', source: 'static', grantTypes: ['client_credentials'], redirectUris: [] }),
    ]);
    expect(result.stdout).not.toContain('client_secret');
    expect(result.stdout).not.toContain(appSecret);
    expect(result.stdout).not.toContain(serviceSecret);
  });

  it('shows one client with its approvers and metadata, secret left out', async () => {
    const shown = await runJson<ClientJson>(['--config', ws.configPath, 'client', 'show', 'app'], options());
    expect(shown).toMatchObject({ id: 'app', name: 'App', source: 'static', approvers: ['owner@example.com'] });
    expect(shown.metadata).toMatchObject({ client_id: 'app', redirect_uris: ['https://app.example.com/cb'] });
    expect(shown.metadata).not.toHaveProperty('client_secret');
    expect(JSON.stringify(shown)).not.toContain(appSecret);
  });

  it('refuses an unknown client id with one clear line', async () => {
    const result = await runGatehouse(['--config', ws.configPath, 'client', 'show', 'nope'], options());
    expect(result.code).toBe(66);
    expect(messageLines(result.stderr)).toEqual(['gatehouse: no client with id nope']);
    expect(result.stderr).not.toMatch(stackLine);
    expect(result.stdout).toBe('');
  });
});
