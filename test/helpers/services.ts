/**
 * Real services the tests need (PostgreSQL, Chromium, oidc-agent). Missing on a developer's
 * machine: the tests that need them skip with a loud message. Under CI=true a
 * missing service fails the run instead.
 */
import { existsSync } from 'node:fs';
import pg from 'pg';

export const isCI = process.env.CI === 'true';
export const postgresUrl = process.env.GATEHOUSE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function missing(what: string, why: string): false {
  const line = `${what} is not available (${why})`;
  if (isCI) throw new Error(`${line}: CI=true requires it`);
  console.warn(`\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! SKIPPING tests: ${line}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`);
  return false;
}

let pgProbe: Promise<boolean> | undefined;
export function postgresAvailable(): Promise<boolean> {
  pgProbe ??= (async () => {
    const probe = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
    try {
      await probe.connect();
      await probe.query('select 1');
      return true;
    } catch (err) {
      return missing('PostgreSQL', err instanceof Error ? err.message : String(err));
    } finally {
      await probe.end().catch(() => undefined);
    }
  })();
  return pgProbe;
}

export function chromiumAvailable(): boolean {
  return existsSync(chromiumPath) || missing('Chromium', `${chromiumPath} not found; apt-get install -y chromium`);
}

/** Where the Debian package oidc-agent puts `oidc-gen`, `oidc-agent` and `oidc-token`. */
export const oidcAgentBin = process.env.OIDC_AGENT_BIN ?? '/usr/bin';

export function oidcAgentAvailable(): boolean {
  return ['oidc-gen', 'oidc-agent', 'oidc-token'].every((tool) => existsSync(`${oidcAgentBin}/${tool}`))
    || missing('oidc-agent', `${oidcAgentBin}/oidc-gen not found; apt-get install -y oidc-agent`);
}
