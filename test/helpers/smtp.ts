/** A real SMTP server on loopback (smtp-server) that keeps what it receives; can go down and come back on the same port. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  raw: string;
  subject: string;
  /** Decoded text of the message (quoted-printable soft breaks removed). */
  body: string;
}

export interface TestSmtp {
  port: number;
  received: ReceivedMail[];
  stop(): Promise<void>;
  start(): Promise<void>;
  waitFor(predicate: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
}

function decode(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

export async function startSmtp(port = 0): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  /** Called with each mail as it arrives (the waits of waitFor). */
  const arrivals = new Set<(mail: ReceivedMail) => void>();
  let server: SMTPServer | undefined;
  let boundPort = port;

  async function start(): Promise<void> {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const subject = /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '';
          const mail = { to: session.envelope.rcptTo.map((r) => r.address), raw, subject, body: decode(raw) };
          received.push(mail);
          for (const arrived of arrivals) arrived(mail);
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(boundPort, '127.0.0.1', () => resolve());
    });
    boundPort = (server.server.address() as AddressInfo).port;
  }

  await start();
  return {
    get port() {
      return boundPort;
    },
    received,
    start,
    stop: () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
    /** The first mail (already in or arriving) that matches, at most `timeoutMs` from now. */
    waitFor(predicate, timeoutMs = 15_000) {
      const found = received.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const arrived = (mail: ReceivedMail) => {
          if (!predicate(mail)) return;
          arrivals.delete(arrived);
          clearTimeout(timer);
          resolve(mail);
        };
        const timer = setTimeout(() => {
          arrivals.delete(arrived);
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${received.map((m) => m.subject).join(', ') || 'none'})`));
        }, timeoutMs);
        arrivals.add(arrived);
      });
    },
  };
}
