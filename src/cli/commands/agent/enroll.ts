/**
 * `gatehouse agent enroll` (SPEC 6.2): enroll this device once with the signed
 * registration JWT its firmware carries and its manufacturer id; later runs
 * re-use the state file without a request.
 */
import { Command } from 'commander';
import { createOutput } from '../../output.ts';
import { type GlobalOptions, seconds, timeoutHelp, warn } from './options.ts';

interface EnrollOptions {
  url?: string;
  token: string;
  manufacturerId: string;
  state: string;
  timeout?: number;
}

export function enrollCommand(): Command {
  return new Command('enroll')
    .description('enroll this device once with a device token (signed JWT) and its manufacturer id; later runs re-use the state file')
    .option('--url <url>', 'the issuer, or its /api/register-device URL (default: the registration_url in the token)')
    .requiredOption('--token <jwt>', 'device token (gatehouse device-token create)')
    .requiredOption('--manufacturer-id <id>', "this device's manufacturer id (serial number); it can enroll once")
    .requiredOption('--state <file>', 'where to keep the credentials (written with mode 0600)')
    .option('--timeout <seconds>', timeoutHelp, seconds)
    .action(async (opts: EnrollOptions, cmd: Command) => {
      const out = createOutput(Boolean(cmd.optsWithGlobals<GlobalOptions>().json));
      const [{ enroll }, { publicView }] = await Promise.all([import('../../../agent/enroll.ts'), import('../../../agent/state.ts')]);
      const { reused, state } = await enroll({
        url: opts.url,
        token: opts.token,
        manufacturerId: opts.manufacturerId,
        statePath: opts.state,
        timeoutSeconds: opts.timeout,
        warn,
      });
      if (out.json) return out.record({ ...publicView(state), reused });
      out.say(
        reused
          ? `re-using the state in ${opts.state}: this device (manufacturer id ${state.manufacturer_id}) is already enrolled as client ${state.client_id}`
          : `enrolled this device (manufacturer id ${state.manufacturer_id}) as client ${state.client_id}; credentials saved in ${opts.state}`,
      );
    });
}
