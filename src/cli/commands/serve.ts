/**
 * `gatehouse serve` (= `npm start`): migrations, then the server, until SIGINT/SIGTERM.
 * stdout carries the JSON log lines only (a log collector reads it); the banner
 * for the person who started it, and the one-time first-admin link, go to stderr.
 * `--workers N|auto` runs N worker processes on the one port (http/cluster.ts);
 * a worker runs this same command line again and serves as one of them.
 */
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Gatehouse } from '../../context.ts';
import { withGatehouse } from '../index.ts';
import { version } from '../version.ts';

/**
 * oidc-provider 9 warns "Unsupported runtime" unless Node.js is an LTS release
 * from 22 ("Jod") on (its lib/index.js); it declares no `engines`. Gatehouse is
 * tested on Node.js 20 too, so the banner says the warning is expected there.
 */
function runtimeNote(): string | undefined {
  const lts = process.release.lts;
  if (lts && lts.charCodeAt(0) >= 'Jod'.charCodeAt(0)) return undefined;
  return `on Node.js ${process.version} oidc-provider's "Unsupported runtime" warning above is expected: it supports Node.js 22 LTS and later LTS releases, Gatehouse also runs on Node.js 20.19 and later`;
}

/** What runs where, in a few aligned lines: the issuer, gating, registration, device enrolment, the Keycloak realm. */
function banner(gh: Gatehouse, running: { url: string }, workers: number[] | undefined): string {
  const { config } = gh;
  const { registration, deviceRegistration } = config;
  const realm = config.compat.keycloak?.realm;
  const rows: [string, string][] = [
    ['discovery', `${running.url}/.well-known/openid-configuration`],
    ['gating', gh.gate.mode === 'open' ? 'off (firstauth.enable is false or mode none): anyone who signs in gets in' : `${gh.gate.mode} (firstauth.mode)`],
    [
      'registration',
      registration.enabled
        ? `on at ${running.url}/reg (${registration.initialAccessToken === 'required' ? 'a registration token is required' : 'anonymous requests allowed, policies apply'})`
        : 'off (registration.enabled)',
    ],
    ['device enrolment', deviceRegistration.enabled ? `on at ${gh.devices.registrationUrl()}` : 'off (deviceRegistration.enabled)'],
    ['keycloak realm', realm ? `${realm}, issuer ${config.issuer}/realms/${realm}` : 'off (compat.keycloak)'],
    [
      'workers',
      workers
        ? `${workers.length} processes on one port (pids ${workers.join(', ')}); this one (pid ${process.pid}) replaces any that dies`
        : `1 process (pid ${process.pid}; --workers N|auto for more)`,
    ],
    ['logs', `JSON lines on stdout (log.level ${gh.logger.level})`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  const note = runtimeNote();
  return [
    `Gatehouse ${version} is running at ${running.url}`,
    ...rows.map(([key, value]) => `  ${`${key}:`.padEnd(width)} ${value}`),
    ...(note ? [`  note: ${note}`] : []),
  ].join('\n');
}

/** The most workers `--workers` takes: far past any core count, short of a typo's 10000 processes. */
const maxWorkers = 256;

/** `--workers`: a whole number from 1 to 256, or `auto` for the cores this process may use (os.availableParallelism()). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > maxWorkers) {
    throw new InvalidArgumentError(`--workers takes a whole number from 1 to ${maxWorkers}, or auto (the cores available here: ${availableParallelism()}).`);
  }
  return n;
}

function printStarted(gh: Gatehouse, running: { url: string; bootstrapLink?: string | undefined }, workers: number[] | undefined): void {
  process.stderr.write(`${banner(gh, running, workers)}\n`);
  if (running.bootstrapLink) {
    process.stderr.write(
      `\nNobody has an account yet. First admin: open this one-time invitation, then sign in to any client:\n  ${running.bootstrapLink}\n(it is shown once; \`gatehouse acl-token create\` makes more at any time)\n`,
    );
  }
}

const untilSignal = () =>
  new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the server (runs migrations first); JSON logs on stdout, this banner on stderr')
    .addOption(
      new Option('--workers <N|auto>', 'worker processes on the one port (node:cluster); auto = one per available core')
        .default(1, 'one process')
        .argParser(parseWorkers),
    )
    .action(
      withGatehouse(
        async ({ gh }, options: { workers: number }) => {
          // Loaded here so other commands do not pay for (or warn about) oidc-provider.
          const { isClusterWorker, serveAsWorker, startCluster } = await import('../../http/cluster.ts');
          if (isClusterWorker()) return serveAsWorker(gh);
          if (options.workers > 1) {
            const running = await startCluster(gh, options.workers);
            printStarted(gh, running, running.pids());
            await untilSignal();
            gh.logger.info({ workerPids: running.pids() }, 'shutting down');
            await running.stop();
            return;
          }
          const { startServer } = await import('../../http/server.ts');
          const running = await startServer(gh);
          printStarted(gh, running, undefined);
          await untilSignal();
          gh.logger.info('shutting down');
          // stop() closes the database; the wrapper's close afterwards is harmless.
          await running.stop().catch(() => undefined);
        },
        { logLevel: undefined, migrate: false, needs: 'all' },
      ),
    );
}
