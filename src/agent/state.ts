/**
 * The agent's state file: what a device keeps between starts (its client id and
 * secret, where to get tokens). One JSON object, versioned, `kind` saying how
 * the credentials were obtained; written with mode 0600 and atomically (a temp
 * file in the same folder, fsync, rename), so a crash never leaves half a file
 * and the secret is never readable by others, not even for a moment.
 *
 * Kinds: `registration` (agent register), `enrollment` (agent enroll),
 * `login` (agent login). Part of src/agent/ (the device side): depends only on
 * errors.ts and zod.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GatehouseError } from '../errors.ts';

const httpUrl = z.url({ protocol: /^https?$/ });

/** Written by `gatehouse agent register` (RFC 7591 dynamic registration with a counted registration token). */
export const registrationStateSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('registration'),
  issuer: httpUrl,
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  /** RFC 7592: lets the device read or update its own registration later. */
  registration_access_token: z.string().min(1),
  registration_client_uri: httpUrl,
  token_endpoint: httpUrl,
  created_at: z.iso.datetime(),
});

/**
 * Written by `gatehouse agent enroll` (SPEC 6.2, a signed registration JWT
 * presented at `POST /api/register-device`). The server gives a client id and
 * secret once; a second enrollment of the same manufacturer id is refused, so
 * this file is the only copy of the credentials.
 */
export const enrollmentStateSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('enrollment'),
  issuer: httpUrl,
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  token_endpoint: httpUrl,
  /** Where the device enrolled (the JWT's `registration_url`, or --url). */
  registration_url: httpUrl,
  manufacturer_id: z.string().min(1),
  /** The server's `deviceId` (today the same as client_id; kept apart in case it ever is not). */
  device_id: z.string().min(1),
  created_at: z.iso.datetime(),
});

/**
 * Written by `gatehouse agent login` (SPEC 6.3, RFC 8628 device authorization
 * grant): a public client a person signed in. No client secret; the tokens
 * themselves are the secret. The refresh token rotates on every use, so the
 * file is rewritten after every refresh.
 */
export const loginStateSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('login'),
  issuer: httpUrl,
  client_id: z.string().min(1),
  token_endpoint: httpUrl,
  access_token: z.string().min(1),
  /** Absent when the issuer gave none: the sign-in then ends when the access token does. */
  refresh_token: z.string().min(1).optional(),
  /** When access_token stops working. */
  expires_at: z.iso.datetime(),
  /** The scope the issuer granted, when it said. */
  scope: z.string().optional(),
  /** The person who signed in (the ID token's `sub`), when an ID token came. */
  subject: z.string().min(1).optional(),
  /** When the person signed in on the verification page. */
  created_at: z.iso.datetime(),
  refreshed_at: z.iso.datetime().optional(),
});

/** Every kind of state file: a discriminated union on `kind`, so `agent token` reads any of them. */
export const agentStateSchema = z.discriminatedUnion('kind', [registrationStateSchema, enrollmentStateSchema, loginStateSchema]);

export type AgentState = z.infer<typeof agentStateSchema>;
export type RegistrationState = z.infer<typeof registrationStateSchema>;
export type EnrollmentState = z.infer<typeof enrollmentStateSchema>;
export type LoginState = z.infer<typeof loginStateSchema>;
/** The kinds that hold a client id and secret (client_credentials). */
export type ClientState = RegistrationState | EnrollmentState;

/** What a client_credentials grant needs, whatever kind of state file it came from. */
export interface DeviceCredentials {
  issuer: string;
  client_id: string;
  client_secret: string;
  token_endpoint: string;
}

export function credentialsOf(state: ClientState): DeviceCredentials {
  const { issuer, client_id, client_secret, token_endpoint } = state;
  return { issuer, client_id, client_secret, token_endpoint };
}

/** Fields no output may show: they let whoever reads them act as the device. */
const secretFields = new Set(['client_secret', 'registration_access_token', 'access_token', 'refresh_token']);

/** The state without its secrets, for printing. */
export function publicView(state: AgentState): Record<string, unknown> {
  return Object.fromEntries(Object.entries(state).filter(([key]) => !secretFields.has(key)));
}

/** Same issuer, whatever the spelling of an empty path ("https://id.example" and "https://id.example/"). */
export function sameUrl(a: string, b: string): boolean {
  return new URL(a).href === new URL(b).href;
}

/** `client_secret: expected string, received number; client_id: missing; unexpected field "extra"` */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys')
        return `unexpected field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      const message = issue.message.replace(/^Invalid input: /, '');
      const what = message.endsWith('received undefined') ? 'missing' : message.charAt(0).toLowerCase() + message.slice(1);
      return issue.path.length > 0 ? `${issue.path.join('.')}: ${what}` : what;
    })
    .join('; ');
}

/**
 * Reads and checks the state file. Returns undefined when there is none;
 * throws `agent.state_invalid` when it cannot be read, is not JSON or does not
 * match the schema. `warn` hears about a mode wider than 0600.
 */
export function readState(file: string, warn: (line: string) => void): AgentState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatehouseError('agent.state_invalid', `cannot read state file ${file}: ${(err as Error).message}`);
  }
  checkMode(file, warn);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the file's text, which may hold the secret.
    throw new GatehouseError('agent.state_invalid', `state file ${file} is damaged: not JSON`);
  }
  const parsed = agentStateSchema.safeParse(json);
  if (!parsed.success) throw new GatehouseError('agent.state_invalid', `state file ${file} is damaged: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Like `readState`, but a missing file is an error too (for commands that need credentials). */
export function requireState(file: string, warn: (line: string) => void): AgentState {
  const state = readState(file, warn);
  if (!state) throw new GatehouseError('not_found', `state file ${file} does not exist; run \`gatehouse agent register\`, \`enroll\` or \`login\` first`);
  return state;
}

/** The file holds a client secret: group or others being able to read (or write) it deserves a warning. */
function checkMode(file: string, warn: (line: string) => void): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warn(
      `warning: state file ${file} has mode ${mode.toString(8).padStart(4, '0')}: others on this machine can get at its client secret; run chmod 600 ${file}`,
    );
  }
}

/**
 * A state file about to be written. Made before registering, so a folder we
 * cannot write to is found out before a registration token is used up.
 */
export interface PendingStateFile {
  /** Writes the state to the temp file, fsyncs and renames it over the target. */
  commit(state: AgentState): void;
  /** Removes the temp file (nothing was registered). */
  abandon(): void;
}

export function prepareStateFile(file: string): PendingStateFile {
  const dir = path.dirname(path.resolve(file));
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    // 'wx': never follow or reuse someone else's file; 0600 from the first byte.
    fd = openSync(temp, 'wx', 0o600);
  } catch (err) {
    throw new GatehouseError('agent.state_invalid', `cannot write state file ${file}: ${(err as Error).message}`);
  }
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  const removeTemp = () => {
    try {
      unlinkSync(temp);
    } catch {
      // Already gone.
    }
  };
  return {
    commit(state) {
      try {
        writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
        fsyncSync(fd);
        close();
        renameSync(temp, file);
      } catch (err) {
        try {
          close();
        } finally {
          removeTemp();
        }
        throw new GatehouseError('agent.state_invalid', `cannot write state file ${file}: ${(err as Error).message}`);
      }
      syncFolder(dir);
    },
    abandon() {
      try {
        close();
      } finally {
        removeTemp();
      }
    },
  };
}

/** After a rename, fsync the folder so the new name survives a power cut. Not every platform can open a folder: best effort. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
