/** `gatehouse migrate`: applies pending migrations and says which. */
import { Command } from 'commander';
import { migrateLatest } from '../../db/migrate.ts';
import { withGatehouse } from '../index.ts';

export function migrateCommand(): Command {
  return new Command('migrate').description('apply pending database migrations').action(
    withGatehouse(
      async ({ gh, out }) => {
        const applied = await migrateLatest(gh.db);
        out.record({ applied }, applied.length ? undefined : 'The database is up to date.');
      },
      { migrate: false },
    ),
  );
}
