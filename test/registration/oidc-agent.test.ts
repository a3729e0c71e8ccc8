/**
 * oidc-agent (the Debian package, unchanged) registers itself and gets tokens
 * as it does at Keycloak: `oidc-gen` with a registration token from
 * `gatehouse registration-token create` registers a client (it sends
 * `application_type: "web"` with loopback redirect URIs and its private-use
 * scheme `edu.kit.data.oidc-agent:/redirect`, which the native-app rule
 * accepts), runs the device flow while the person approves the user code over
 * HTTP, and `oidc-token` then prints an access token that introspection calls
 * active. Once at Gatehouse's own `/reg`, once at the Keycloak realm's
 * `clients-registrations/openid-connect`.
 *
 * The agent runs as a child process with its own socket, HOME and
 * OIDC_CONFIG_DIR in a temp folder, so nothing touches the real home.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CliWorkspace, databaseYaml, writeWorkspace } from '../cli/gatehouse.ts';
import { parsed, runInProcess } from '../cli/in-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { answerDeviceCode } from '../helpers/device-approval.ts';
import { oidcAgentAvailable, oidcAgentBin } from '../helpers/services.ts';
import { startTestServer, testClients, type TestServer } from '../helpers/server.ts';
import { realmRegistrationConfig } from '../helpers/registration.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

const person = { email: 'ada@example.com', password: 'analytical-engine-1843' };
const realmName = 'master';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!oidcAgentAvailable())('oidc-agent registers and gets tokens', () => {
  let db: TestDatabase;
  let server: TestServer;
  let ws: CliWorkspace;
  let home: string;
  let agent: ChildProcess;
  let registrationToken: { id: string; token: string };
  let env: NodeJS.ProcessEnv;

  /**
   * Runs an oidc-agent tool to its end; `onOutput` sees what it printed so far
   * (oidc-gen shows the device code on stderr, which a pipe does not buffer).
   */
  const tool = (name: string, args: string[], onOutput?: (soFar: string) => void) =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn(path.join(oidcAgentBin, name), args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 45_000, killSignal: 'SIGKILL' });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        onOutput?.(stdout + stderr);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        onOutput?.(stdout + stderr);
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    // The device polls every second (the default is 5 s), so the test waits for the person, not the clock.
    server = await startTestServer(db, realmRegistrationConfig(realmName, { security: { devicePollInterval: '1s' } }));
    await server.gh.users.createLocal({ email: person.email, name: 'Ada Lovelace', password: person.password }, 'test');
    ws = writeWorkspace(
      db,
      [
        `issuer: ${server.url}`,
        `database: ${databaseYaml(db)}`,
        'registration: { enabled: true, initialAccessToken: required }',
        `compat: { keycloak: { realm: ${realmName} } }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    // As an operator makes it: one token, one use per oidc-agent account below.
    registrationToken = parsed<{ id: string; token: string }>(
      await runInProcess(['--config', ws.configPath, 'registration-token', 'create', '--count', '2', '--expires', '1d', '--json']),
    );

    home = mkdtempSync(path.join(tmpdir(), 'gatehouse-oidc-agent-'));
    for (const dir of ['home', 'config', 'sock']) mkdirSync(path.join(home, dir));
    const socket = path.join(home, 'sock', 'oidc-agent.sock');
    env = {
      PATH: process.env.PATH,
      TMPDIR: home,
      HOME: path.join(home, 'home'),
      OIDC_CONFIG_DIR: path.join(home, 'config'),
      OIDC_SOCK: socket,
      OIDC_ENCRYPTION_PW: 'agent-config-password',
    };
    // -d: stays in the foreground (a child we can end), no daemon left behind.
    agent = spawn(path.join(oidcAgentBin, 'oidc-agent'), ['-d', '-a', socket], { env, stdio: 'ignore' });
    for (let tries = 0; !existsSync(socket); tries += 1) {
      if (tries > 100 || agent.exitCode !== null) throw new Error(`oidc-agent did not open its socket ${socket}`);
      await delay(50);
    }
  });

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const ended = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      await ended;
    }
    await server?.stop();
    ws?.cleanup();
    if (home) rmSync(home, { recursive: true, force: true });
    await db?.drop();
  });

  const issuers = [
    { name: 'Gatehouse issuer', shortname: 'gatehouse', issuer: () => server.url, endpoint: '/reg' },
    {
      name: 'Keycloak realm',
      shortname: 'realm',
      issuer: () => `${server.url}/realms/${realmName}`,
      endpoint: `/realms/${realmName}/clients-registrations/openid-connect`,
    },
  ];

  it.each(issuers)(
    'registers at the $name ($endpoint) with oidc-gen, the person approves the device code, and oidc-token prints an active access token',
    async ({ shortname, issuer: issuerOf }) => {
      const issuer = issuerOf();
      let approval: Promise<string> | undefined;
      let verificationUri: string | undefined;
      const gen = await tool(
        'oidc-gen',
        [
          `--issuer=${issuer}`,
          '--scope=openid profile email offline_access',
          '--flow=device',
          `--at=${registrationToken.token}`,
          '--pw-env',
          '--no-url-call',
          '--prompt=none',
          '--confirm-default',
          shortname,
        ],
        (soFar) => {
          const shown = /visit:\s*(\S+)\s+And enter the code: (\S+)/.exec(soFar);
          if (shown && !approval) {
            verificationUri = shown[1];
            approval = answerDeviceCode(issuer, shown[2]!, 'confirm', person);
            // Awaited below; until then a failure must not count as unhandled.
            approval.catch(() => undefined);
          }
        },
      );
      expect(gen.stdout + gen.stderr).not.toMatch(/invalid_redirect_uri|Dynamic client registration not successful/);
      expect(gen.code, `${gen.stdout}\n${gen.stderr}`).toBe(0);
      expect(verificationUri).toBe(`${issuer}/device`);
      expect(gen.stdout).toContain('Everything setup correctly!');
      expect(await approval).toContain('Device connected');

      const token = await tool('oidc-token', [shortname]);
      expect(token.code, token.stderr).toBe(0);
      const accessToken = token.stdout.trim();
      const resourceServer = await client.discovery(new URL(issuer), testClients.service.client_id, testClients.service.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const introspection = await client.tokenIntrospection(resourceServer, accessToken);
      expect(introspection).toMatchObject({ active: true, scope: expect.stringContaining('openid') });

      // The client oidc-gen registered: counted against the token, kept as the native application it is.
      const record = (await server.gh.registrar.listRegistered()).find((r) => r.client_id === introspection.client_id);
      expect(record).toMatchObject({ registration_token_id: registrationToken.id, kind: 'application' });
      const stored = await server.gh.db('oidc_model').where({ kind: 'Client', id: introspection.client_id }).first<{ payload: string }>();
      expect(JSON.parse(stored!.payload)).toMatchObject({
        application_type: 'native',
        redirect_uris: expect.arrayContaining(['edu.kit.data.oidc-agent:/redirect', 'http://localhost:8080']),
        grant_types: expect.arrayContaining(['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']),
      });
    },
  );

  it('counted each oidc-agent registration against the registration token', async () => {
    expect((await server.gh.registrationTokens.get(registrationToken.id)).uses).toBe(2);
  });
});
