/**
 * Real services the tests need (PostgreSQL, Chromium, oidc-agent). Missing on a developer's
 * machine: the tests that need them skip with a loud message. Under CI=true a
 * missing service fails the run instead.
 */
import { existsSync, readdirSync } from 'node:fs';
import pg from 'pg';

export const isCI = process.env.CI === 'true';
export const postgresUrl = process.env.GATEHOUSE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function missing(what: string, why: string): false {
  const line = `${what} is not available (${why})`;
  if (isCI) throw new Error(`${line}: CI=true requires it`);
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! SKIPPING tests: ${line}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
  return false;
}

/** Whether the Redis at `url` answers (skips loudly, or fails under CI=true, when not); `flush` empties its database first. */
export async function redisAvailable(url: string, options: { flush?: boolean } = {}): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  try {
    await probe.connect();
    await (options.flush ? probe.flushdb() : probe.ping());
    return true;
  } catch (err) {
    return missing('Redis', `${url}: ${err instanceof Error ? err.message : String(err)}; apt-get install -y redis-server`);
  } finally {
    probe.disconnect();
  }
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

/**
 * The directory with PostgreSQL's own initdb and pg_ctl (Debian puts them under
 * /usr/lib/postgresql/<version>/bin), for tests that start and stop a server of
 * their own; the newest version wins.
 */
export function postgresServerBinaries(): string | false {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const candidates = process.env.GATEHOUSE_TEST_PG_BIN ? [process.env.GATEHOUSE_TEST_PG_BIN] : versions.map((v) => `${root}/${v}/bin`);
  const found = candidates.find((dir) => existsSync(`${dir}/initdb`) && existsSync(`${dir}/pg_ctl`));
  return found ?? missing('PostgreSQL server binaries (initdb, pg_ctl)', 'not under /usr/lib/postgresql/*/bin; apt-get install -y postgresql');
}

export function chromiumAvailable(): boolean {
  return existsSync(chromiumPath) || missing('Chromium', `${chromiumPath} not found; apt-get install -y chromium`);
}

/** Where the Debian package oidc-agent puts `oidc-gen`, `oidc-agent` and `oidc-token`. */
export const oidcAgentBin = process.env.OIDC_AGENT_BIN ?? '/usr/bin';

export function oidcAgentAvailable(): boolean {
  return (
    ['oidc-gen', 'oidc-agent', 'oidc-token'].every((tool) => existsSync(`${oidcAgentBin}/${tool}`)) ||
    missing('oidc-agent', `${oidcAgentBin}/oidc-gen not found; apt-get install -y oidc-agent`)
  );
}
