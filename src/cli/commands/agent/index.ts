/**
 * `gatehouse agent register|enroll|login|token`: the device side (SPEC 6). Runs on a device
 * without config.yaml or database, so unlike the other commands these never
 * open a Gatehouse (no `withGatehouse`); everything they know is in --state.
 * src/agent/ (and openid-client with it) is loaded only when an agent command
 * runs, so the other commands neither pay for it nor need it installed.
 */
import { Command } from 'commander';
import { createOutput } from '../../output.ts';
import { enrollCommand } from './enroll.ts';
import { loginCommand } from './login.ts';
import { type GlobalOptions, seconds, timeoutHelp, warn } from './options.ts';

export function agentCommands(): Command {
  const agent = new Command('agent').description(
    'the device side: register or enroll this device as its own client, or sign a person in on it; get access tokens',
  );

  agent
    .command('register')
    .description('register this device once with a registration token; later runs re-use the state file')
    .requiredOption('--issuer <url>', 'the Gatehouse issuer URL (https; http only on 127.0.0.1, localhost, ::1)')
    .requiredOption('--registration-token <token>', 'registration token (gatehouse registration-token create)')
    .requiredOption('--state <file>', 'where to keep the credentials (written with mode 0600)')
    .option('--name <name>', 'client name shown in `device list` (default: "gatehouse-agent <random> on <hostname> (<state file name>)")')
    .option('--timeout <seconds>', timeoutHelp, seconds)
    .action(async (opts: { issuer: string; registrationToken: string; state: string; name?: string; timeout?: number }, cmd: Command) => {
      const out = createOutput(Boolean(cmd.optsWithGlobals<GlobalOptions>().json));
      const [{ register }, { publicView }] = await Promise.all([import('../../../agent/register.ts'), import('../../../agent/state.ts')]);
      const { reused, state } = await register({
        issuer: opts.issuer,
        registrationToken: opts.registrationToken,
        statePath: opts.state,
        name: opts.name,
        timeoutSeconds: opts.timeout,
        warn,
      });
      if (out.json) return out.record({ ...publicView(state), reused });
      out.say(
        reused
          ? `re-using the state in ${opts.state}: this device is already registered as client ${state.client_id}`
          : `registered this device as client ${state.client_id}; credentials saved in ${opts.state}`,
      );
    });

  agent.addCommand(enrollCommand());
  agent.addCommand(loginCommand());

  agent
    .command('token')
    .description(
      "print an access token for this device (client_credentials with the state file's credentials, or the signed-in person's token, refreshed when due)",
    )
    .requiredOption('--state <file>', 'the state file written by `agent register`, `agent enroll` or `agent login`')
    .option('--scope <scopes>', 'space-separated scopes to ask for')
    .option('--timeout <seconds>', timeoutHelp, seconds)
    .action(async (opts: { state: string; scope?: string; timeout?: number }, cmd: Command) => {
      const out = createOutput(Boolean(cmd.optsWithGlobals<GlobalOptions>().json));
      const { requestToken } = await import('../../../agent/token.ts');
      const { response } = await requestToken({ statePath: opts.state, scope: opts.scope, timeoutSeconds: opts.timeout, warn });
      // The token alone on stdout, so `TOKEN=$(gatehouse agent token --state FILE)` just works.
      if (out.json) return out.record(response);
      process.stdout.write(`${String(response.access_token)}\n`);
    });
  return agent;
}
