/** `gatehouse keys list|rotate|revoke`: the signing keys in the database (running servers follow within 30 s). */
import { Command } from 'commander';
import { keyRefreshIntervalMs } from '../../../oidc/key-refresh.ts';
import { withGatehouse } from '../../index.ts';

const live = `Running servers publish this change and sign accordingly within ${keyRefreshIntervalMs / 1000} seconds; no restart needed.`;

export function keysCommands(): Command {
  const keys = new Command('keys').description(`signing keys: list, rotate, revoke (running servers follow within ${keyRefreshIntervalMs / 1000} s)`);
  keys
    .command('list')
    .description('list published signing keys')
    .action(
      withGatehouse(async ({ gh, out }) => {
        await gh.keys.ensure();
        out.table((await gh.keys.list()) as unknown as Record<string, unknown>[], ['kid', 'alg', 'state', 'createdAt', 'retiredAt']);
      }),
    );
  keys
    .command('rotate')
    .description('add new signing keys; old ones stay published until their tokens expire')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        await gh.keys.ensure();
        const made = await gh.keys.rotate();
        await gh.audit.record(gh.db, { actor, action: 'keys.rotated', details: { kids: made.map((k) => k.kid) } });
        out.table(made as unknown as Record<string, unknown>[], ['kid', 'alg', 'state', 'createdAt']);
        out.say(live);
      }),
    );
  keys
    .command('revoke')
    .description("remove a signing key from the JWKS now (tokens it signed stop verifying); an algorithm's last active key needs a rotate first")
    .argument('<kid>', 'the key id (see keys list)')
    .action(
      withGatehouse(async ({ gh, out, actor }, kid: string) => {
        await gh.keys.ensure();
        const revoked = await gh.keys.revoke(kid);
        await gh.audit.record(gh.db, { actor, action: 'keys.revoked', subject: revoked.kid, details: { kid: revoked.kid, alg: revoked.alg } });
        out.record({ kid: revoked.kid, alg: revoked.alg, state: 'revoked' }, live);
      }),
    );
  return keys;
}
