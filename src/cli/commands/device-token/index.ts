/** `gatehouse device-token create|list|show|revoke`: signed registration JWTs that devices enroll with (SPEC 6.2). */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { createDeviceToken, listDeviceTokens, revokeDeviceToken, showDeviceToken } from '../../../admin/ops/device-tokens.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new GatehouseError('input.invalid', `--max-devices must be a whole number (0 = no limit), not "${value}"`);
  return Number(value);
}

export function deviceTokenCommands(): Command {
  const dt = new Command('device-token').description('signed registration JWTs for device self-enrollment (POST /api/register-device)');

  dt.command('create')
    .description('create a device token; prints the JWT once')
    .option('--expires <duration>', 'until when devices can enroll with it (365d, ISO date)', '365d')
    .option('--max-devices <n>', 'how many devices may enroll with it (0 = no limit)', '0')
    .option('--client-template <id>', "a static client whose scope the devices' clients get")
    .option('--description <text>', 'what it is for')
    .action(
      withGatehouse(
        async ({ gh, out, actor }, opts: { expires: string; maxDevices: string; clientTemplate?: string; description?: string }) => {
          if (!gh.config.deviceRegistration.jwt)
            throw new GatehouseError('config.invalid', 'set deviceRegistration.jwt { secret, issuer } in the config first');
          const made = await invoke(
            createDeviceToken,
            { gh, actor },
            { expires: opts.expires, maxDevices: wholeNumber(opts.maxDevices), clientTemplate: opts.clientTemplate, description: opts.description },
          );
          out.record(
            made,
            `The token is shown only now. A device enrolls with: gatehouse agent enroll --url ${made.registrationUrl} --token <token> --manufacturer-id <id> --state <file>`,
          );
          if (!gh.config.deviceRegistration.enabled)
            process.stderr.write('gatehouse: note: deviceRegistration.enabled is false in the config; the server refuses enrollments until it is true\n');
        },
        { needs: ['database', 'deviceRegistration.jwt'] },
      ),
    );

  dt.command('list')
    .description('list device tokens with how many devices enrolled')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listDeviceTokens, { gh, actor }, {}), ['id', 'description', 'devices', 'maxDevices', 'state', 'expires']);
      }),
    );

  dt.command('show')
    .description('show one device token')
    .argument('<id>', "device token id (the JWT's jti)")
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showDeviceToken, { gh, actor }, { id }));
      }),
    );

  dt.command('revoke')
    .description('revoke a device token: no more devices can enroll with it (enrolled ones keep working)')
    .argument('<id>', 'device token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(revokeDeviceToken, { gh, actor }, { id }));
      }),
    );
  return dt;
}
