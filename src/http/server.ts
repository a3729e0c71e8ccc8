/**
 * Starting a server: migrations, keys, the provider and the app, the mail sender
 * and the clean-up of expired protocol state. `listenOn` lets tests listen on an
 * OS-picked port first and derive the issuer from it.
 */
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Gatehouse } from '../context.ts';
import { requireSet } from '../config/load.ts';
import { migrateLatest } from '../db/migrate.ts';
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

export async function startServer(gh: Gatehouse, listenOn?: http.Server): Promise<RunningServer> {
  const { config, logger } = gh;
  // SPEC 7: a missing ${VAR} stops start-up, naming the key and its line (the CLI defers them for other commands).
  requireSet(config);
  await migrateLatest(gh.db);
  await repairRegistrations(gh);
  await gh.keys.ensure();
  if (config.deviceRegistration.enabled) await gh.devices.checkAllowList();
  gh.cookieKeys = await gh.keys.cookieKeys();
  if (gh.gate.mode === 'auto') await gh.gate.ensureGlobalToken(gh.clients.staticIds());

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
  const deps = { config, db: gh.db, clock: gh.clock, users: gh.users, gate: gh.gate, jwks: await keyRefresher.initial(), cookieKeys: gh.cookieKeys };
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
  // Only once listening: a start that fails before (port taken) must not spend the one-time link,
  // since later starts see the bootstrap token and print none.
  let bootstrapLink: string | undefined;
  try {
    const bootstrap = await gh.gate.bootstrapInvitation(config.admins, gh.clients.staticIds());
    bootstrapLink = bootstrap ? `${config.issuer}/invite/${bootstrap}` : undefined;
  } catch (err) {
    server.closeAllConnections();
    server.close();
    throw err;
  }
  if (bootstrapLink) logger.warn({ admins: config.admins }, 'no users yet: a one-time invitation for the first admin was printed on stderr');
  gh.sender.start();
  const cleanup = setInterval(
    () => {
      deleteExpiredModels(gh.db, gh.clock.now()).catch((err: unknown) => logger.warn({ err }, 'expired state clean-up failed'));
    },
    10 * 60 * 1000,
  );
  cleanup.unref();
  // A peer instance that crashed mid-registration is repaired by the instances still running.
  const repair = setInterval(
    () => void repairRegistrations(gh).catch((err: unknown) => logger.warn({ err }, 'registration repair failed')),
    reservationBoundMs,
  );
  repair.unref();

  const address = server.address() as AddressInfo;
  logger.info({ issuer: config.issuer, address: `${address.address}:${address.port}` }, 'gatehouse is listening');
  return {
    url: config.issuer,
    bootstrapLink,
    server,
    async stop() {
      clearInterval(cleanup);
      clearInterval(repair);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gh.close();
    },
  };
}
