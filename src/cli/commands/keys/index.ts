/** `gatehouse keys list|rotate`: the signing keys in the database. */
import { Command } from 'commander';
import { withGatehouse } from '../../index.ts';

export function keysCommands(): Command {
  const keys = new Command('keys').description('signing keys');
  keys.command('list')
    .description('list published signing keys')
    .action(withGatehouse(async ({ gh, out }) => {
      await gh.keys.ensure();
      out.table(await gh.keys.list() as unknown as Record<string, unknown>[], ['kid', 'alg', 'state', 'createdAt', 'retiredAt']);
    }));
  keys.command('rotate')
    .description('add new signing keys; old ones stay published until their tokens expire')
    .action(withGatehouse(async ({ gh, out, actor }) => {
      await gh.keys.ensure();
      const made = await gh.keys.rotate();
      await gh.audit.record(gh.db, { actor, action: 'keys.rotated', details: { kids: made.map((k) => k.kid) } });
      out.table(made as unknown as Record<string, unknown>[], ['kid', 'alg', 'state', 'createdAt']);
      out.say('Running servers pick up the new keys when they restart.');
    }));
  return keys;
}
