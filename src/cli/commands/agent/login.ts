/**
 * `gatehouse agent login` (SPEC 6.3): sign a person in on this device with the
 * device authorization grant. Shows the verification URL, the user code and a
 * QR code of the complete URL, waits for the person, keeps the tokens in
 * --state. With --json it prints one JSON object per line instead: first the
 * device authorization (so a script can show or relay the code), then the
 * result.
 */
import { Command } from 'commander';
import type { DeviceAuthorization } from '../../../agent/login.ts';
import type { LoginState } from '../../../agent/state.ts';
import { type GlobalOptions, seconds, timeoutHelp, warn } from './options.ts';

interface LoginOptions {
  issuer: string;
  clientId: string;
  scope?: string;
  state?: string;
  timeout?: number;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
const jsonLine = (value: Record<string, unknown>) => print(JSON.stringify(value));

/** "10 minutes", "90 seconds". */
function inWords(seconds: number): string {
  return seconds >= 120 && seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;
}

/** Loaded with the command, like src/agent/: the other commands do not need it. */
async function qrOf(text: string): Promise<string> {
  const { default: qrcode } = await import('qrcode-terminal');
  let drawn = '';
  // Synchronous: the callback runs before generate returns.
  qrcode.generate(text, { small: true }, (code) => (drawn = code));
  return drawn.replace(/\n+$/, '');
}

/** What the person sees on the device's screen (or in its log). */
async function showAuthorization(authorization: DeviceAuthorization): Promise<void> {
  const complete = authorization.verification_uri_complete;
  print(
    [
      'To sign in this device, open',
      `  ${authorization.verification_uri}`,
      'and enter the code',
      `  ${authorization.user_code}`,
      '',
      ...(complete ? [`or open ${complete}`, 'or scan this QR code with your phone:', await qrOf(complete), ''] : []),
      `Waiting for the sign-in (the code expires in ${inWords(authorization.expires_in)})...`,
    ].join('\n'),
  );
}

function validUntil(state: LoginState): string {
  return `the access token is valid until ${state.expires_at}`;
}

export function loginCommand(): Command {
  return new Command('login')
    .description(
      'sign a person in on this device (device authorization grant): shows a URL, a code and a QR code, then keeps the tokens; later runs refresh them',
    )
    .requiredOption('--issuer <url>', 'the Gatehouse issuer URL (https; http only on 127.0.0.1, localhost, ::1)')
    .requiredOption('--client-id <id>', 'a public client allowed the device code grant')
    .option('--scope <scopes>', 'space-separated scopes to ask for (default "openid offline_access")')
    .option('--state <file>', 'where to keep the tokens (written with mode 0600); without it they are printed, not kept')
    .option('--timeout <seconds>', timeoutHelp, seconds)
    .action(async (opts: LoginOptions, cmd: Command) => {
      const json = Boolean(cmd.optsWithGlobals<GlobalOptions>().json);
      const [{ login }, { publicView }] = await Promise.all([import('../../../agent/login.ts'), import('../../../agent/state.ts')]);
      const { via, state } = await login({
        issuer: opts.issuer,
        clientId: opts.clientId,
        scope: opts.scope,
        statePath: opts.state,
        timeoutSeconds: opts.timeout,
        warn,
        onAuthorization: (authorization) => (json ? jsonLine({ event: 'device_authorization', ...authorization }) : showAuthorization(authorization)),
      });
      if (json) {
        // Without --state nothing else will ever show the tokens; with it, the file is where they live.
        const tokens = opts.state ? {} : { access_token: state.access_token, ...(state.refresh_token ? { refresh_token: state.refresh_token } : {}) };
        jsonLine({ event: 'signed_in', via, ...publicView(state), ...tokens, ...(opts.state ? { state_file: opts.state } : {}) });
        return;
      }
      const who = state.subject ? ` as ${state.subject}` : '';
      if (via === 'refresh_token') {
        print(`re-using the sign-in saved in ${opts.state}: refreshed the tokens of client ${state.client_id}; ${validUntil(state)}`);
      } else if (opts.state) {
        print(`signed in${who} (client ${state.client_id}); tokens saved in ${opts.state}; ${validUntil(state)}`);
      } else {
        print(`signed in${who} (client ${state.client_id}); no --state, so nothing is kept; ${validUntil(state)}:`);
        print(state.access_token);
      }
    });
}
