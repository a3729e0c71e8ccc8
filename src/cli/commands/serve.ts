/**
 * `gatehouse serve` (= `npm start`): migrations, then the server, until SIGINT/SIGTERM.
 * stdout carries the JSON log lines only (a log collector reads it); the banner
 * for the person who started it, and the one-time first-admin link, go to stderr.
 */
import { Command } from 'commander';
import type { Gatehouse } from '../../context.ts';
import type { RunningServer } from '../../http/server.ts';
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
function banner(gh: Gatehouse, running: RunningServer): string {
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

export function serveCommand(): Command {
  return new Command('serve').description('run the server (runs migrations first); JSON logs on stdout, this banner on stderr').action(
    withGatehouse(
      async ({ gh }) => {
        // Loaded here so other commands do not pay for (or warn about) oidc-provider.
        const { startServer } = await import('../../http/server.ts');
        const running = await startServer(gh);
        process.stderr.write(`${banner(gh, running)}\n`);
        if (running.bootstrapLink) {
          process.stderr.write(
            `\nNobody has an account yet. First admin: open this one-time invitation, then sign in to any client:\n  ${running.bootstrapLink}\n(it is shown once; \`gatehouse acl-token create\` makes more at any time)\n`,
          );
        }
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        gh.logger.info('shutting down');
        // stop() closes the database; the wrapper's close afterwards is harmless.
        await running.stop().catch(() => undefined);
      },
      { logLevel: undefined, migrate: false, needs: 'all' },
    ),
  );
}
