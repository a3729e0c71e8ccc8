/**
 * Every configuration key, its default and what it means: the one source for
 * `config.yaml`, the README's configuration section and start-up validation.
 * Objects are strict, so a misspelt key stops start-up instead of being ignored.
 */
import { z } from 'zod';
import { parseDurationSeconds } from './duration.ts';

const duration = z.string().refine((value) => {
  try {
    parseDurationSeconds(value);
    return true;
  } catch {
    return false;
  }
}, 'must be a duration like 30s, 15m, 12h or 7d');

const email = z.email('must be an e-mail address');

/** One per-IP limit: at most `max` attempts within a sliding `window`. */
const rateLimit = (max: number, window: string) =>
  z
    .strictObject({
      max: z.number().int().min(1).default(max),
      window: duration.default(window),
    })
    .default({ max, window });

const smtp = {
  /** SMTP server host; without one, mails are written as .eml files to `outbox`. */
  host: z.string().min(1).optional(),
  /** SMTP port (587 = STARTTLS, 465 = implicit TLS). */
  port: z.number().int().min(1).max(65535).optional(),
  /** SMTP user name; also the default sender. */
  user: z.string().optional(),
  /** SMTP password; use `${SMTP_PASSWORD}` rather than writing it here. */
  password: z.string().optional(),
  /** Sender address; defaults to `user`, then `noreply@<issuer host>`. */
  from: z.string().optional(),
  /** Implicit TLS; defaults to true on port 465. */
  secure: z.boolean().optional(),
};

export const mailerSchema = z.strictObject({
  ...smtp,
  /** Folder for .eml files when no SMTP host is set (relative to the config file). */
  outbox: z.string().default('./data/outbox'),
});

export const firstAuthMailerSchema = z.strictObject({
  ...smtp,
  /** Who receives join requests when a client has no approvers of its own. */
  receiver: email.optional(),
});

const localConnector = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, - and _'),
  type: z.literal('local'),
  /** Shown on the login page. */
  name: z.string().default('Email'),
  /** Let people create an account themselves (verified by a mailed link). */
  signup: z.boolean().default(false),
});

const oidcConnector = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, - and _'),
  type: z.literal('oidc'),
  name: z.string(),
  /** The upstream provider's issuer URL (discovery is read from it). */
  issuer: z.url(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  scopes: z.array(z.string()).default(['openid', 'email', 'profile']),
});

export const connectorSchema = z.discriminatedUnion('type', [localConnector, oidcConnector]);

/** oidc-provider client metadata (checked by oidc-provider itself) plus Gatehouse's own keys. */
export const clientSchema = z.looseObject({
  client_id: z.string().min(1),
  /** Who approves join and access requests for this client (falls back to firstauth.mailer.receiver). */
  approvers: z.array(email).default([]),
  /**
   * Quorum: how many different approvers must approve a join or access request for this client
   * (one deny decides). An admin's approval (console, API, CLI, or an approver who is in `admins`) decides outright.
   */
  approvals: z.number().int().min(1).default(1),
  /** List this client to signed-in people at `/account/browse` ("Other apps"), where those without access can ask for it. */
  discoverable: z.boolean().default(false),
  /** Every sign-in to this client needs a second factor (TOTP, a passkey); a person without one enrolls first (identity/mfa/). */
  requireMfa: z.boolean().default(false),
});

const sqliteDatabase = z.strictObject({
  client: z.literal('sqlite'),
  /** Database file (relative to the config file); WAL mode. */
  filename: z.string().default('./data/gatehouse.sqlite'),
});

const postgresDatabase = z.strictObject({
  client: z.enum(['postgres', 'pg', 'postgresql']),
  /** postgres://user:pass@host:5432/db, usually `${DATABASE_URL}`. */
  url: z.string().min(1),
  /** Connection pool size per instance. */
  pool: z.strictObject({ min: z.number().int().min(0).default(0), max: z.number().int().min(1).default(10) }).optional(),
});

const configObject = z.strictObject({
  /** The public URL of this provider; path prefixes are allowed. */
  issuer: z
    .url()
    .default('http://127.0.0.1:3000')
    .transform((url) => url.replace(/\/+$/, '')),
  /** Where the server listens; defaults to the issuer's host and port. */
  listen: z.strictObject({ host: z.string().optional(), port: z.number().int().min(0).max(65535).optional() }).default({}),
  /** Trust X-Forwarded-* headers (behind a reverse proxy). */
  trustProxy: z.boolean().default(false),
  database: z.discriminatedUnion('client', [sqliteDatabase, postgresDatabase]).default({ client: 'sqlite', filename: './data/gatehouse.sqlite' }),
  /** Identity sources listed on the login page. */
  connectors: z
    .array(connectorSchema)
    .default([{ id: 'local', type: 'local', name: 'Email', signup: false }])
    .refine((list) => new Set(list.map((c) => c.id)).size === list.length, 'connector ids must be unique'),
  /** Static clients: oidc-provider client metadata plus `approvers` and `discoverable`. */
  clients: z
    .array(clientSchema)
    .default([])
    .refine((list) => new Set(list.map((c) => c.client_id)).size === list.length, 'client_id values must be unique'),
  /** E-mail addresses of administrators: they sign in to the console at `/admin` and may call `/admin/api` with their access token. */
  admins: z.array(email).default([]),
  /** The admin API (`/admin/api`). */
  adminApi: z
    .strictObject({
      /**
       * API keys for scripts: `Authorization: Bearer <key>`. Made by `gatehouse admin-key create`,
       * which prints the key once and the `{ id, hash }` entry to paste here.
       */
      keys: z
        .array(
          z.strictObject({
            id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only'),
            hash: z.string().regex(/^sha256:[A-Za-z0-9_-]{43}$/, 'a hash printed by `gatehouse admin-key create`'),
          }),
        )
        .default([])
        .refine((list) => new Set(list.map((k) => k.id)).size === list.length, 'admin API key ids must be unique'),
    })
    .default({ keys: [] }),
  /** The admin console (`/admin`). */
  adminConsole: z
    .strictObject({
      /** A console session ends after this long without a request. */
      idleTimeout: duration.default('30m'),
      /** …and after this long in any case. */
      maxAge: duration.default('12h'),
    })
    .default({ idleTimeout: '30m', maxAge: '12h' }),
  /** First-auth gating (the Dex-era keys). */
  firstauth: z
    .strictObject({
      enable: z.boolean().default(false),
      mode: z.enum(['auto', 'manual', 'none']).default('manual'),
      mailer: firstAuthMailerSchema.default({}),
    })
    .default({ enable: false, mode: 'manual', mailer: {} }),
  /** Outgoing mail for everything else (and for gating when firstauth.mailer has no host). */
  mailer: mailerSchema.default({ outbox: './data/outbox' }),
  /** Organisation name, logo and colour on every page and mail. */
  branding: z
    .strictObject({
      name: z.string().default('Gatehouse'),
      logoUrl: z.string().optional(),
      primaryColor: z
        .string()
        .regex(/^#[0-9a-fA-F]{3,8}$/, 'a hex colour like #2a5db0')
        .default('#2a5db0'),
    })
    .default({ name: 'Gatehouse', primaryColor: '#2a5db0' }),
  /** Lifetimes of what the provider issues. */
  ttl: z
    .strictObject({
      accessToken: duration.default('1h'),
      clientCredentials: duration.default('10m'),
      idToken: duration.default('1h'),
      refreshToken: duration.default('14d'),
      authorizationCode: duration.default('60s'),
      deviceCode: duration.default('10m'),
      session: duration.default('14d'),
      interaction: duration.default('1h'),
      grant: duration.default('14d'),
    })
    .default({
      accessToken: '1h',
      clientCredentials: '10m',
      idToken: '1h',
      refreshToken: '14d',
      authorizationCode: '60s',
      deviceCode: '10m',
      session: '14d',
      interaction: '1h',
      grant: '14d',
    }),
  /** Dynamic client registration (RFC 7591 / 7592) at `<issuer>/reg`. */
  registration: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** `required`: every registration presents a registration token; `optional`: anonymous requests are allowed (policies apply). */
      initialAccessToken: z.enum(['required', 'optional']).default('required'),
      policies: z
        .strictObject({
          /** Anonymous registrations only from these hosts / IPs, and redirect URIs only to these hosts or their subdomains. */
          trustedHosts: z.array(z.string().min(1)).default([]),
          /** Refuse registrations beyond this many registered clients. */
          maxClients: z.number().int().min(1).default(200),
          /** Registered clients show the consent page at every authorization (not only the first). */
          consentRequired: z.boolean().default(true),
          /** New registered clients start disabled until `gatehouse client enable ID`. */
          clientDisabled: z.boolean().default(false),
        })
        .default({ trustedHosts: [], maxClients: 200, consentRequired: true, clientDisabled: false }),
    })
    .default({ enabled: false, initialAccessToken: 'required', policies: { trustedHosts: [], maxClients: 200, consentRequired: true, clientDisabled: false } }),
  /** Devices that enroll themselves with a signed registration JWT (`gatehouse device-token create`). */
  deviceRegistration: z
    .strictObject({
      enabled: z.boolean().default(false),
      jwt: z
        .strictObject({
          /** HS256 secret, at least 32 bytes; use `${DEVICE_JWT_SECRET}` rather than writing it here. */
          secret: z
            .string()
            .refine((value) => Buffer.byteLength(value, 'utf8') >= 32, 'must be at least 32 bytes (e.g. `openssl rand -base64 48`, from the environment)'),
          /** The `iss` the device tokens carry and must carry. */
          issuer: z.string().min(1),
        })
        .optional(),
      /** A file with one allowed manufacturer id per line (relative to the config file); absent = any id. */
      allowedManufacturerIds: z.string().optional(),
      /** Enrollment attempts per IP within `security.rateLimits.deviceRegistration.window` (15m), unless that sets its own `max`. */
      rateLimit: z.number().int().min(1).default(60),
    })
    .default({ enabled: false, rateLimit: 60 })
    .refine((value) => !value.enabled || value.jwt !== undefined, 'enabled: true needs jwt: { secret, issuer }'),
  /** Compatibility paths for tools written against other servers. */
  compat: z
    .strictObject({
      /** Also serve Keycloak's paths under `/realms/<realm>/` (issuer `<issuer>/realms/<realm>`). */
      keycloak: z
        .strictObject({
          realm: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, ., - and _'),
        })
        .optional(),
    })
    .default({}),
  /** Brute-force and overload protection. */
  security: z
    .strictObject({
      /**
       * Failed logins per account and IP (and per IP x 4) within `loginWindow` before
       * that IP waits; across IPs an account only slows down (see identity/login-throttle.ts).
       */
      maxLoginFailures: z.number().int().min(1).default(5),
      loginWindow: duration.default('15m'),
      /** Password hashes computed at once (default: max(cores + 1, libuv's 4 threads), identity/passwords.ts); more wait in a bounded queue, beyond it 503. */
      passwordHashConcurrency: z.number().int().min(1).optional(),
      passwordHashQueue: z.number().int().min(0).default(64),
      /** Device grant: how often a device may poll the token endpoint; faster polls get `slow_down`. */
      devicePollInterval: duration.default('5s'),
      /**
       * Passkeys (WebAuthn, identity/mfa/passkeys.ts): the relying party is the issuer's host name and
       * origin; `userVerification` `preferred` (the default) or `required` (a PIN or biometric every time).
       */
      webauthn: z.strictObject({ userVerification: z.enum(['preferred', 'required']).default('preferred') }).default({ userVerification: 'preferred' }),
      /**
       * Second factors (identity/mfa/): `optional` (the default: asked of those who enrolled one, and where a
       * client, an invitation or the application's `acr_values` requires it) or `required` (every sign-in;
       * a person without a factor enrolls one at their next sign-in).
       */
      mfa: z.enum(['optional', 'required']).default('optional'),
      /**
       * Per-IP limits on what people and devices submit (http/middleware/rate-limit.ts): past `max`
       * attempts within `window` of the first the answer is 429 until that window ends. Counted in
       * `store` (lib/limiter-store.ts), as are the password sign-in throttle (`maxLoginFailures`,
       * `loginWindow`) and every other limit.
       */
      rateLimits: z
        .strictObject({
          /**
           * Where every limit counts: `database` (the default: every instance on the database shares
           * every limit), `redis` (at `redis.url`, shared by the instances on it), `memory` (each instance alone).
           */
          store: z.enum(['database', 'redis', 'memory']).default('database'),
          /** Wrong device user codes at the code page, per IP over both issuers together (RFC 8628 §5.1). */
          deviceCodes: rateLimit(10, '15m'),
          /** Invitation codes and join requests entered on the gate pages of a sign-in, together. */
          gate: rateLimit(30, '15m'),
          /** Self sign-ups (`connectors[].signup`). */
          signup: rateLimit(10, '15m'),
          /** Enrollments at POST /api/register-device; `max` defaults to `deviceRegistration.rateLimit` (60). */
          deviceRegistration: z
            .strictObject({
              max: z.number().int().min(1).optional(),
              window: duration.default('15m'),
            })
            .default({ window: '15m' }),
          /** Admin API calls (`/admin/api`) and console form posts, per caller (admin or API key). */
          admin: rateLimit(600, '1m'),
          /** "Forgot password?" requests (POST /forgot-password) per IP; per address at most 3 links an hour besides. */
          passwordReset: rateLimit(10, '15m'),
        })
        .default({
          store: 'database',
          deviceCodes: { max: 10, window: '15m' },
          gate: { max: 30, window: '15m' },
          signup: { max: 10, window: '15m' },
          deviceRegistration: { window: '15m' },
          admin: { max: 600, window: '1m' },
          passwordReset: { max: 10, window: '15m' },
        }),
    })
    .default({
      maxLoginFailures: 5,
      loginWindow: '15m',
      passwordHashQueue: 64,
      devicePollInterval: '5s',
      webauthn: { userVerification: 'preferred' },
      mfa: 'optional',
      rateLimits: {
        store: 'database',
        deviceCodes: { max: 10, window: '15m' },
        gate: { max: 30, window: '15m' },
        signup: { max: 10, window: '15m' },
        deviceRegistration: { window: '15m' },
        admin: { max: 600, window: '1m' },
        passwordReset: { max: 10, window: '15m' },
      },
    }),
  /** Redis, for `security.rateLimits.store: redis` (lib/limiter-store.ts). */
  redis: z
    .strictObject({
      /** e.g. `redis://127.0.0.1:6379/0` (`rediss://` for TLS; credentials from the environment). */
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
        .optional(),
    })
    .default({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export const configSchema = configObject.superRefine((config, ctx) => {
  if (config.security.rateLimits.store === 'redis' && !config.redis.url) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'url'], message: 'security.rateLimits.store: redis needs redis.url' });
  }
});

/**
 * A key whose `${VAR}` was not set, in a config loaded with `deferUnset` (config/load.ts):
 * its value is a stand-in, and `requireSet` stops any use that needs it.
 */
export interface UnsetValue {
  path: string;
  file: string;
  line?: number | undefined;
  variable: string;
}

export type Config = z.infer<typeof configSchema> & {
  /** Folder that holds the config file; relative paths are resolved against it. */
  readonly baseDir: string;
  /** Keys left unset (see UnsetValue); absent or empty when every `${VAR}` was set. */
  readonly unset?: readonly UnsetValue[];
};
export type ConnectorConfig = z.infer<typeof connectorSchema>;
export type ClientConfig = z.infer<typeof clientSchema>;
export type MailerConfig = z.infer<typeof mailerSchema>;
