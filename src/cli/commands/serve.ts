/** `gatehouse serve` (= `npm start`): migrations, then the server, until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { startServer } from '../../http/server.ts';
import { withGatehouse } from '../index.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the server (runs migrations first)')
    .action(withGatehouse(async ({ gh }) => {
      const running = await startServer(gh);
      process.stdout.write(`Gatehouse is running at ${running.url}\n  discovery: ${running.url}/.well-known/openid-configuration\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      gh.logger.info('shutting down');
      // stop() closes the database; the wrapper's close afterwards is harmless.
      await running.stop().catch(() => undefined);
    }, { logLevel: undefined, migrate: false }));
}
