/** What every `gatehouse agent` verb shares: the global --json flag, --timeout, and warnings on stderr. */
import { InvalidArgumentError } from 'commander';

export interface GlobalOptions {
  json?: boolean;
}

export const warn = (line: string) => process.stderr.write(`gatehouse: ${line}\n`);

export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a whole number of seconds, at least 1');
  return n;
}

export const timeoutHelp = 'seconds to wait for each answer from the issuer (default 30)';
