/**
 * `gatehouse admin-key create [--id NAME]`: an admin API key (SPEC 9). Prints
 * the key once and the `{ id, hash }` entry to paste into config.yaml under
 * `adminApi.keys`; the server keeps only the hash. Needs no config and no
 * database: it opens neither (a `--config` given is not read), so it works
 * before Gatehouse is set up and on a machine that cannot reach the database.
 */
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { makeApiKey } from '../../../admin/api-keys.ts';
import { GatehouseError } from '../../../errors.ts';
import { createOutput } from '../../output.ts';

/** The ids `adminApi.keys[].id` accepts (src/config/schema.ts). */
const idPattern = /^[A-Za-z0-9_-]{1,64}$/;

export function adminKeyCommands(): Command {
  const adminKey = new Command('admin-key').description('admin API keys (adminApi.keys in config.yaml)');

  adminKey
    .command('create')
    .description('make an admin API key; prints the key once and the entry to paste under adminApi.keys')
    .option('--id <name>', 'a name for the key (letters, digits, _ and -; default: a random one); the audit log calls its calls key:<name>')
    .action((opts: { id?: string }, cmd: Command) => {
      const id = opts.id ?? `key-${randomBytes(4).toString('hex')}`;
      if (!idPattern.test(id)) {
        throw new GatehouseError('input.invalid', `--id must be 1 to 64 letters, digits, _ or -, not "${id}"`, { field: 'id' });
      }
      const { key, entry } = makeApiKey(id);
      const config = `- { id: ${entry.id}, hash: ${entry.hash} }`;
      const out = createOutput(Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json));
      if (out.json) {
        out.record({ id: entry.id, key, hash: entry.hash, config });
        return;
      }
      out.say(`Admin API key ${entry.id} (shown only now: copy it):\n\n  ${key}\n`);
      out.say(`Add this entry to config.yaml under adminApi.keys, then restart the server:\n\nadminApi:\n  keys:\n    ${config}\n`);
      out.say('Scripts send it as: Authorization: Bearer <key>');
    });
  return adminKey;
}
