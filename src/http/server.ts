/**
 * Starting a server: migrations, keys, the provider and the app, the mail sender
 * and the clean-up of expired protocol state. `listenOn` lets tests listen on an
 * OS-picked port first and derive the issuer from it.
 *
 * The steps come apart for `serve --workers N` (./cluster.ts):
 * - `prepareDatabase`: what must run once before anyone serves (migrations, the
 *   repair of interrupted registrations, signing and cookie keys, the allow-list
 *   check, auto mode's global token): the primary;
 * - `listenApp`: the provider and the app on the port, and the mail sender
 *   (kicked by mails its own requests enqueue; the lease in mail/sender.ts keeps
 *   several senders from sending one mail twice): each worker;
 * - `startHousekeeping`: the ten-minute clean-up of expired protocol state and
 *   the one-minute registration repair sweep: one process (the primary);
 * - `bootstrapLink`: the first admin's one-time link, once everyone listens: the primary.
 * `startServer` runs them all in one process, as `serve` does with one worker.
 */
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';
import { requireSet } from '../config/load.ts';
import { migrateLatest } from '../db/migrate.ts';
import { startCheckpoints } from '../db/sqlite-checkpointer.ts';
import { deleteExpiredModels } from '../db/repos/oidc-models.ts';
import { keycloakClientRepresentation } from '../oidc/keycloak.ts';
import { keycloakIframes } from '../oidc/keycloak-iframes.ts';
import { keycloakTokens } from '../oidc/keycloak-tokens.ts';
import { KeyRefresher } from '../oidc/key-refresh.ts';
import { createProvider, keycloakRoutes } from '../oidc/provider.ts';
import { reservationBoundMs } from '../registration/registrar.ts';
import { createApp, type IssuerSite } from './app.ts';
import { httpStatus } from './middleware/errors.ts';
import { viewsDir } from './views.ts';
import { CookieKeys } from '../lib/cookie-keys.ts';

export interface RunningServer {
  url: string;
  /** A one-time link for the first admin, on a first start in manual mode (printed by `serve`). */
  bootstrapLink?: string | undefined;
  server: http.Server;
  stop(): Promise<void>;
}

/** Settles registrations a crash interrupted (registration/registrar.ts): the counted uses match the clients that exist. */
async function repairRegistrations(gh: Gatehouse): Promise<void> {
  const { undone } = await gh.registrar.repairReservations();
  if (undone.length) gh.logger.warn({ undone }, 'undid registrations interrupted by a crash; their registration token uses were given back');
}

/** The start-up work that runs once per start, before any process serves (see the header). */
export async function prepareDatabase(gh: Gatehouse): Promise<void> {
  const { config } = gh;
  // SPEC 7: a missing ${VAR} stops start-up, naming the key and its line (the CLI defers them for other commands).
  requireSet(config);
  await migrateLatest(gh.db);
  await repairRegistrations(gh);
  await gh.keys.ensure();
  if (config.deviceRegistration.enabled) await gh.devices.checkAllowList();
  if (gh.gate.mode === 'auto') await gh.gate.ensureGlobalToken(gh.clients.staticIds());
}

export interface ListeningApp {
  server: http.Server;
  /** Closes the server (dropping open connections) and the database. */
  stop(): Promise<void>;
}

/** The provider(s) and the app on the configured port (or on `listenOn`), and the mail sender; after `prepareDatabase`. */
export async function listenApp(gh: Gatehouse, listenOn?: http.Server): Promise<ListeningApp> {
  const { config, logger } = gh;
  requireSet(config);
  // Made by prepareDatabase (keys.ensure); read here, so every worker signs cookies with the same keys.
  gh.cookieKeys = new CookieKeys(await gh.keys.cookieKeys());
  // SQLite: checkpoints in a thread of their own, not on the request thread (db/sqlite-checkpointer.ts).
  startCheckpoints(gh.db, logger);
  const renderAt =
    (base: string) =>
    (ctx: KoaContextWithOIDC, name: string, vars: Record<string, unknown>, status = 200) => {
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = gh.views.page(name, { base, ...vars });
    };
  // Keys rotated or revoked while this server runs reach both issuers (main and realm) through the refresher.
  const keyRefresher = new KeyRefresher(gh.keys, gh.clock, logger);
  const deps = {
    config,
    db: gh.db,
    clock: gh.clock,
    users: gh.users,
    gate: gh.gate,
    mfa: gh.mfa,
    jwks: await keyRefresher.initial(),
    cookieKeys: gh.cookieKeys,
    storeWork: gh.registrar.storeWork.bind(gh.registrar),
  };
  const staticIds = new Set(gh.clients.staticIds());
  const observe = (provider: Provider) => {
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown');
      gh.metrics.tokenGrants.inc({ grant_type: grantType });
      if (grantType === 'client_credentials' && ctx.oidc.client && !staticIds.has(ctx.oidc.client.clientId))
        gh.registrar.noteTokenIssued(ctx.oidc.client.clientId);
    });
    provider.on('server_error', (_ctx: unknown, err: Error) => logger.error({ err }, 'oidc-provider server error'));
    keyRefresher.attach(provider);
    return provider;
  };
  const provider = observe(createProvider({ ...deps, render: renderAt(new URL(config.issuer).pathname.replace(/\/$/, '')) }));
  let realm: IssuerSite | undefined;
  if (config.compat.keycloak) {
    // Keycloak compatibility: the realm is its own issuer on the same database, keys and accounts.
    const issuer = `${config.issuer}/realms/${config.compat.keycloak.realm}`;
    const realmProvider = observe(
      createProvider({ ...deps, render: renderAt(new URL(issuer).pathname), issuer, routes: keycloakRoutes, cookiePrefix: 'gh.realm' }),
    );
    realm = {
      provider: realmProvider,
      issuer,
      cookiePrefix: 'gh.realm',
      registrationPath: '/clients-registrations/openid-connect',
      before: [
        keycloakIframes({
          provider: realmProvider,
          db: gh.db,
          config,
          assetsDir: path.join(viewsDir, 'static', 'keycloak'),
          sessionCookie: 'gh.realm.session',
        }),
        keycloakTokens(realmProvider),
        keycloakClientRepresentation(gh.registrar, config.registration.policies.consentRequired, httpStatus),
      ],
    };
  }
  const app = createApp(gh, provider, realm, keyRefresher);

  const server = listenOn ?? http.createServer();
  server.on('request', app.callback());
  if (!listenOn) {
    const url = new URL(config.issuer);
    const port = config.listen.port ?? (url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);
    const host = config.listen.host ?? url.hostname;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  }
  gh.sender.start();
  const address = server.address() as AddressInfo;
  logger.info({ issuer: config.issuer, address: `${address.address}:${address.port}` }, 'gatehouse is listening');
  return {
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gh.close();
    },
  };
}

/**
 * The first admin's one-time link, on a first start in manual mode. Only once
 * listening: a start that fails before (port taken) must not spend it, since
 * later starts see the bootstrap token and print none.
 */
export async function bootstrapLink(gh: Gatehouse): Promise<string | undefined> {
  const { config, logger } = gh;
  const bootstrap = await gh.gate.bootstrapInvitation(config.admins, gh.clients.staticIds());
  if (!bootstrap) return undefined;
  logger.warn({ admins: config.admins }, 'no users yet: a one-time invitation for the first admin was printed on stderr');
  return `${config.issuer}/invite/${bootstrap}`;
}

/** The periodic clean-up and repair; one process runs them. Returns what stops them. */
export function startHousekeeping(gh: Gatehouse): () => void {
  const { logger } = gh;
  const cleanup = setInterval(
    () => {
      deleteExpiredModels(gh.db, gh.clock.now()).catch((err: unknown) => logger.warn({ err }, 'expired state clean-up failed'));
    },
    10 * 60 * 1000,
  );
  cleanup.unref();
  // A peer instance (or worker) that crashed mid-registration is repaired by the instances still running.
  const repair = setInterval(
    () => void repairRegistrations(gh).catch((err: unknown) => logger.warn({ err }, 'registration repair failed')),
    reservationBoundMs,
  );
  repair.unref();
  return () => {
    clearInterval(cleanup);
    clearInterval(repair);
  };
}

export async function startServer(gh: Gatehouse, listenOn?: http.Server): Promise<RunningServer> {
  await prepareDatabase(gh);
  const app = await listenApp(gh, listenOn);
  let link: string | undefined;
  try {
    link = await bootstrapLink(gh);
  } catch (err) {
    app.server.closeAllConnections();
    app.server.close();
    await gh.sender.stop();
    throw err;
  }
  const stopHousekeeping = startHousekeeping(gh);
  return {
    url: gh.config.issuer,
    bootstrapLink: link,
    server: app.server,
    async stop() {
      stopHousekeeping();
      await app.stop();
    },
  };
}
