/**
 * The handshake between a bench server process and the driver: one JSON line
 * on stdout once the server listens, and a clean stop on SIGTERM / SIGINT.
 */
export interface Announcement {
  url: string;
  pid: number;
  name: string;
}

export function announce(name: string, url: string, extra: Record<string, unknown> = {}): void {
  const line: Announcement = { ...extra, url, pid: process.pid, name };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Runs `stop` once on the first termination signal, then exits. */
export function stopOnSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
