/**
 * The composition root: config → knex → repositories → services, built once and
 * shared by the server and the CLI. Nothing here touches the database until a
 * caller asks (the CLI's `migrate` must work on an empty database).
 */
import path from 'node:path';
import type { Config } from './config/schema.ts';
import { Audit } from './audit/audit.ts';
import { createKnex, type Db } from './db/knex.ts';
import { closeDatabase, readRows, writeReturning } from './db/flavor.ts';
import { LocalConnector } from './identity/connectors/local.ts';
import { OidcConnector, type Connector } from './identity/connectors/oidc.ts';
import { Passwords } from './identity/passwords.ts';
import { PasswordResets } from './identity/password-reset.ts';
import { Users } from './identity/users.ts';
import { Mfa } from './identity/mfa/factors.ts';
import { createViews, type Views } from './http/views.ts';
import { parseDurationSeconds } from './config/duration.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLimiterStore, type LimiterStore } from './lib/limiter-store.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { MailOutbox } from './mail/outbox.ts';
import { MailSender, type SenderOptions } from './mail/sender.ts';
import { Metrics } from './metrics.ts';
import { Keys, longestSignedLifetimeMs } from './oidc/keys.ts';
import { AclTokens } from './gating/acl-tokens.ts';
import { Gate, gateMode, type GateMetrics } from './gating/access.ts';
import { JoinRequests } from './gating/join-requests.ts';
import { ClientDirectory } from './registration/clients.ts';
import { DeviceEnrollment } from './devices/enrollment.ts';
import { Registrar } from './registration/registrar.ts';
import { RegistrationTokens } from './registration/tokens.ts';
import { CookieKeys } from './lib/cookie-keys.ts';

export interface GatehouseOptions {
  logger?: Logger;
  clock?: Clock;
  /** Mail sender tuning (tests shorten the polling and backoff). */
  mail?: Pick<SenderOptions, 'pollMs' | 'backoffBaseMs' | 'backoffMaxMs'>;
}

export interface Gatehouse {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Where every rate limit and the login throttle count (`security.rateLimits.store`): shared by instances on one database or Redis. */
  limiterStore: LimiterStore;
  views: Views;
  audit: Audit;
  outbox: MailOutbox;
  sender: MailSender;
  passwords: Passwords;
  users: Users;
  /** "Forgot password?" for the local connector's accounts; undefined without one. */
  passwordResets: PasswordResets | undefined;
  connectors: Connector[];
  keys: Keys;
  clients: ClientDirectory;
  aclTokens: AclTokens;
  gate: Gate;
  joinRequests: JoinRequests;
  registrationTokens: RegistrationTokens;
  registrar: Registrar;
  devices: DeviceEnrollment;
  /** Second factors: TOTP, recovery codes, passkeys' storage (identity/mfa/README.md). */
  mfa: Mfa;
  /** Filled by the server once keys exist (see http/server.ts). */
  cookieKeys: CookieKeys;
  close(): Promise<void>;
}

export function createGatehouse(config: Config, options: GatehouseOptions = {}): Gatehouse {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level);
  const db = createKnex(config.database, logger);
  const metrics = new Metrics();
  const limiterStore = createLimiterStore(
    { store: config.security.rateLimits.store, redisUrl: config.redis.url },
    db,
    clock,
    (err) => logger.warn({ err }, 'redis (security.rateLimits.store) cannot be reached; limited requests answer 503 until it can'),
    { countStatement: (sql, bindings) => writeReturning(db, sql, bindings), readStatement: (sql, bindings) => readRows(db, sql, bindings) },
  );
  const views = createViews(config);
  const audit = new Audit(clock);
  const outbox = new MailOutbox(views.mail, clock);
  const passwords = new Passwords({
    concurrency: config.security.passwordHashConcurrency,
    queue: config.security.passwordHashQueue,
    threadPool: Number(process.env.UV_THREADPOOL_SIZE) || undefined,
  });
  const localConfigs = config.connectors.filter((c) => c.type === 'local');
  const users = new Users(db, clock, audit, passwords, localConfigs[0]?.id ?? 'local');
  const connectors: Connector[] = config.connectors.map((c) =>
    c.type === 'local'
      ? new LocalConnector(
          {
            id: c.id,
            name: c.name,
            signup: c.signup,
            issuer: config.issuer,
            brandName: config.branding.name,
            maxFailures: config.security.maxLoginFailures,
            windowMs: parseDurationSeconds(config.security.loginWindow) * 1000,
          },
          db,
          clock,
          passwords,
          outbox,
          audit,
          limiterStore,
        )
      : new OidcConnector(c),
  );
  const passwordResets = localConfigs[0]
    ? new PasswordResets(db, clock, audit, passwords, outbox, users, {
        localConnectorId: localConfigs[0].id,
        issuer: config.issuer,
        brandName: config.branding.name,
        limiterStore,
      })
    : undefined;
  const smtp = config.mailer.host ? config.mailer : config.firstauth.mailer.host ? config.firstauth.mailer : {};
  const sender = new MailSender(db, clock, logger, {
    smtp,
    outboxDir: config.mailer.outbox ?? path.join(config.baseDir, 'data/outbox'),
    defaultFrom: `noreply@${new URL(config.issuer).hostname}`,
    ...options.mail,
  });
  outbox.onEnqueued(() => sender.kick());
  const keys = new Keys(db, clock, longestSignedLifetimeMs(config));
  let closing: Promise<void> | undefined;
  const clients = new ClientDirectory(config, db);
  const aclTokens = new AclTokens(db, clock, audit, (id, trx) => clients.exists(id, trx));
  const gateMetrics: GateMetrics = { gateDecided: (result, reason) => metrics.gateDecisions.inc({ result, reason }) };
  const gate = new Gate(gateMode(config.firstauth), db, clock, audit, gateMetrics, users, aclTokens);
  const joinRequests = new JoinRequests(db, clock, audit, outbox, aclTokens, clients, {
    issuer: config.issuer,
    brand: config.branding.name,
    receiver: config.firstauth.mailer.receiver,
    admins: config.admins,
    linkTtlMs: 7 * 86_400_000,
  });
  const registrationTokens = new RegistrationTokens(db, clock, audit);
  const registrar = new Registrar(db, clock, audit, logger, registrationTokens, aclTokens, gate, outbox, clients, {
    registration: config.registration,
    issuer: config.issuer,
    brand: config.branding.name,
    approvers: config.firstauth.mailer.receiver ? [config.firstauth.mailer.receiver] : config.admins,
    linkTtlMs: 7 * 86_400_000,
  });
  const devices = new DeviceEnrollment(db, clock, audit, { deviceRegistration: config.deviceRegistration, issuer: config.issuer, clients: config.clients });
  const mfa = new Mfa(db, clock, audit, outbox, limiterStore, { mode: config.security.mfa, issuerName: config.branding.name, issuer: config.issuer });
  // The sign-in step finds it by the database handle the server gives oidc-provider (identity/mfa/README.md).

  return {
    config,
    db,
    clock,
    logger,
    metrics,
    limiterStore,
    views,
    audit,
    outbox,
    sender,
    passwords,
    users,
    passwordResets,
    connectors,
    keys,
    clients,
    aclTokens,
    gate,
    joinRequests,
    registrationTokens,
    registrar,
    devices,
    mfa,
    cookieKeys: new CookieKeys([]),
    close() {
      closing ??= (async () => {
        await sender.stop();
        await limiterStore.close();
        await closeDatabase(db);
      })();
      return closing;
    },
  };
}
