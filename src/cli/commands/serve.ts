/** `gatehouse serve` (= `npm start`): migrations, then the server, until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { withGatehouse } from '../index.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the server (runs migrations first)')
    .action(withGatehouse(async ({ gh }) => {
      // Loaded here so other commands do not pay for (or warn about) oidc-provider.
      const { startServer } = await import('../../http/server.ts');
      const running = await startServer(gh);
      process.stdout.write(`Gatehouse is running at ${running.url}\n  discovery: ${running.url}/.well-known/openid-configuration\n`);
      if (running.bootstrapLink) {
        process.stdout.write(`\nNobody has an account yet. First admin: open this one-time invitation, then sign in to any client:\n  ${running.bootstrapLink}\n(it is shown once; \`gatehouse acl-token create\` makes more at any time)\n`);
      }
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
