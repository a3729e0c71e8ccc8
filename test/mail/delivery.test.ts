/**
 * Mail delivery through the outbox: queued mail reaches a real SMTP server on
 * loopback (text + HTML), survives SMTP going down and Gatehouse restarting,
 * falls back to .eml files without an SMTP host, and is never sent twice when
 * two instances share one database. On SQLite and PostgreSQL.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { createGatehouse, type Gatehouse } from '../../src/context.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { listMail, type OutboxRow } from '../../src/db/repos/mail-outbox.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { csrfOf, Browserless } from '../helpers/http-login.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Decodes quoted-printable soft breaks and escapes, as the SMTP helper does. */
const decodeQp = (raw: string) => raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

/** The decoded body of the MIME part with the given content type. */
function partOf(raw: string, type: 'text/plain' | 'text/html'): string {
  const boundary = /boundary="([^"]+)"/.exec(raw)?.[1];
  if (!boundary) throw new Error('not a multipart mail');
  for (const part of raw.split(`--${boundary}`)) {
    const split = part.search(/\r?\n\r?\n/);
    const headers = part.slice(0, split);
    if (!new RegExp(`^Content-Type: ${type}`, 'im').test(headers.trim())) continue;
    const body = part.slice(split).replace(/^\r?\n\r?\n/, '');
    const encoding = /^Content-Transfer-Encoding: (\S+)/im.exec(headers)?.[1]?.toLowerCase();
    if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (encoding === 'quoted-printable') {
      const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    return body;
  }
  throw new Error(`no ${type} part`);
}

const verifyMail = (to: string, link: string, name = 'Grace Hopper') => ({
  to,
  subject: `Confirm your e-mail address (${to})`,
  template: 'verify-email',
  context: { name, link, brand: 'Gatehouse' },
});

async function rowsTo(gh: Gatehouse, to: string): Promise<OutboxRow[]> {
  return (await listMail(gh.db)).filter((m) => m.to === to);
}

describe.each(databaseKinds)('mail delivery on %s', (kind) => {
  let smtp: TestSmtp;
  let smtpDown = false;
  let db: TestDatabase;
  const servers: TestServer[] = [];

  const smtpStop = async () => {
    await smtp.stop();
    smtpDown = true;
  };
  const smtpStart = async () => {
    await smtp.start();
    smtpDown = false;
  };

  const start = async (raw: Record<string, unknown> = {}) => {
    const server = await startTestServer(db, { mailer: { host: '127.0.0.1', port: smtp.port }, ...raw });
    servers.push(server);
    return server;
  };
  const stop = async (server: TestServer) => {
    servers.splice(servers.indexOf(server), 1);
    await server.stop();
  };
  const to = (label: string) => `${label}-${kind}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const mailsTo = (address: string): ReceivedMail[] => smtp.received.filter((m) => m.to.includes(address));

  beforeAll(async () => {
    smtp = await startSmtp();
  });

  afterAll(async () => {
    await smtp?.stop();
  });

  beforeEach(async () => {
    db = await createTestDatabase(kind);
  });

  afterEach(async () => {
    // A test that stopped SMTP must not leave it down for the next one.
    if (smtpDown) await smtpStart();
    for (const server of servers.splice(0)) await server.stop();
    await db.drop();
  });

  it('delivers a queued mail to the SMTP server with its subject, a text part and an HTML part, and marks it sent', async () => {
    const server = await start();
    const address = to('grace');
    const link = `${server.url}/verify-email/abc123?return_to=%2Finteraction%2Fxyz`;
    const id = await server.gh.outbox.enqueue(server.gh.db, verifyMail(address, link, "Grace O'Hopper & Søn"));

    const mail = await smtp.waitFor((m) => m.to.includes(address));
    expect(mail.subject).toBe(`Confirm your e-mail address (${address})`);
    expect(mail.raw).toMatch(/^Content-Type: multipart\/alternative/m);
    expect(mail.raw).toMatch(/^Content-Type: text\/plain/m);
    expect(mail.raw).toMatch(/^Content-Type: text\/html/m);
    expect(mail.raw).toMatch(/^From: .*noreply@127\.0\.0\.1/m);
    // Plain text is not HTML: no entities in it. The HTML part escapes.
    const text = partOf(mail.raw, 'text/plain');
    expect(text).toContain("Hello Grace O'Hopper & Søn,");
    expect(text).toContain(link);
    const html = partOf(mail.raw, 'text/html');
    expect(html).toContain('Hello Grace O&#39;Hopper &amp; Søn,');
    expect(html).toContain(`href="${link}"`);

    const row = await waitUntil('the row to be marked sent', async () => (await rowsTo(server.gh, address)).find((r) => r.status === 'sent'));
    expect(row.id).toBe(id);
    expect(row.sent_at).toBeGreaterThan(0);
    expect(row.locked_until).toBeNull();
    expect(row.last_error).toBeNull();
    expect(row.attempts).toBe(0);
  });

  it('reports the outbox drained only once every due mail has been delivered and marked sent', async () => {
    const server = await start();
    const addresses = [to('drain1'), to('drain2'), to('drain3')];
    for (const address of addresses) await server.gh.outbox.enqueue(server.gh.db, verifyMail(address, `${server.url}/verify-email/drain`));
    // Asked at once, before the enqueue's own wake-up: drained() has the due mail sent itself.
    await server.gh.sender.drained();
    expect(addresses.map((address) => mailsTo(address).length)).toEqual([1, 1, 1]);
    const rows = (await listMail(server.gh.db)).filter((r) => addresses.includes(r.to));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
  });

  it('keeps a mail pending while SMTP is down and delivers it once SMTP is back on the same port', async () => {
    const server = await start();
    const port = smtp.port;
    await smtpStop();
    const address = to('down');
    await server.gh.outbox.enqueue(server.gh.db, verifyMail(address, `${server.url}/verify-email/down`));

    const failed = await waitUntil('a failed attempt', async () => (await rowsTo(server.gh, address)).find((r) => r.attempts >= 2));
    expect(failed.status).toBe('pending');
    expect(failed.last_error).toMatch(/ECONNREFUSED|connect/i);
    expect(failed.sent_at).toBeNull();
    expect(await rowsTo(server.gh, address)).toHaveLength(1);
    expect(mailsTo(address)).toHaveLength(0);

    await smtpStart();
    expect(smtp.port).toBe(port);
    await smtp.waitFor((m) => m.to.includes(address));
    const [row] = await waitUntil('the row to be marked sent', async () => {
      const rows = await rowsTo(server.gh, address);
      return rows.every((r) => r.status === 'sent') && rows;
    });
    expect(row!.attempts).toBeGreaterThanOrEqual(2);
    expect(row!.last_error).toBeNull();
    // Nothing is left to send: a second delivery would have happened by now.
    await server.gh.sender.drained();
    expect(mailsTo(address)).toHaveLength(1);
  });

  it('answers a sign-up at once while SMTP is down and delivers its verification mail later', async () => {
    const server = await start({ connectors: [{ id: 'local', type: 'local', name: 'Email', signup: true }] });
    await smtpStop();
    const address = to('signup');
    const browser = new Browserless();
    const form = await browser.request(`${server.url}/signup`);
    expect(form.status).toBe(200);
    const started = Date.now();
    const sent = await browser.request(`${server.url}/signup`, {
      form: { _csrf: csrfOf(await form.text()), name: 'Down Time', email: address, password: 'long enough password' },
    });
    expect(sent.status).toBe(200);
    expect(await sent.text()).toContain('Check your e-mail');
    expect(Date.now() - started).toBeLessThan(5000);

    const failed = await waitUntil('a failed attempt', async () => (await rowsTo(server.gh, address)).find((r) => r.attempts >= 1));
    expect(failed).toMatchObject({ status: 'pending', subject: 'Confirm your e-mail address' });
    expect(failed.last_error).toBeTruthy();

    await smtpStart();
    const mail = await smtp.waitFor((m) => m.to.includes(address));
    expect(mail.body).toMatch(new RegExp(`${server.url.replace(/[.]/g, '\\.')}/verify-email/[A-Za-z0-9_-]{40,}`));
    await waitUntil('the row to be marked sent', async () => (await rowsTo(server.gh, address)).every((r) => r.status === 'sent'));
  });

  it('delivers a mail that was pending when Gatehouse restarted', async () => {
    const first = await start();
    await smtpStop();
    const address = to('restart');
    const id = await first.gh.outbox.enqueue(first.gh.db, verifyMail(address, `${first.url}/verify-email/restart`));
    await waitUntil('a failed attempt', async () => (await rowsTo(first.gh, address)).find((r) => r.attempts >= 1));
    await stop(first);

    await smtpStart();
    // Nothing was sent by the instance that went away: its stop() waited for its last pass, and a stopped sender sends nothing.
    await first.gh.sender.drained();
    expect(mailsTo(address)).toHaveLength(0);

    const second = await start();
    await smtp.waitFor((m) => m.to.includes(address));
    const row = await waitUntil('the row to be marked sent', async () => (await rowsTo(second.gh, address)).find((r) => r.status === 'sent'));
    expect(row.id).toBe(id);
    await second.gh.sender.drained();
    expect(mailsTo(address)).toHaveLength(1);
  });

  it('writes an .eml file into the configured outbox folder when no SMTP host is set', async () => {
    const server = await start({ mailer: { outbox: './mail-out' } });
    const address = to('eml');
    const link = `${server.url}/verify-email/eml-token-0123456789?return_to=%2Finteraction%2Fabc`;
    await server.gh.outbox.enqueue(server.gh.db, verifyMail(address, link));

    const folder = path.join(db.dir, 'mail-out');
    const [file] = await waitUntil('an .eml file', async () => {
      try {
        const files = readdirSync(folder).filter((f) => f.endsWith('.eml'));
        return files.length > 0 && files;
      } catch {
        return undefined;
      }
    });
    const eml = readFileSync(path.join(folder, file!), 'utf8');
    expect(eml).toMatch(new RegExp(`^Subject: Confirm your e-mail address \\(${address.replace(/[.]/g, '\\.')}\\)$`, 'm'));
    expect(eml).toMatch(new RegExp(`^To: ${address.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(decodeQp(eml)).toContain(link);
    await waitUntil('the row to be marked sent', async () => (await rowsTo(server.gh, address)).find((r) => r.status === 'sent'));
    expect(mailsTo(address)).toHaveLength(0);
  });

  it('resolves the default outbox folder against the folder of config.yaml', async () => {
    const configDir = path.join(db.dir, 'conf');
    const database =
      kind === 'sqlite' ? '{ client: sqlite, filename: ./db/gatehouse.sqlite }' : `{ client: postgres, url: "${(db.config as { url: string }).url}" }`;
    const file = path.join(configDir, 'config.yaml');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(file, `issuer: http://127.0.0.1:1\ndatabase: ${database}\nlog: { level: silent }\n`);
    const config = parseConfig(readFileSync(file, 'utf8'), file);
    expect(config.mailer.outbox).toBe(path.join(configDir, 'data', 'outbox'));

    const gh = createGatehouse(config, { logger: createLogger('silent'), mail: { pollMs: 200, backoffBaseMs: 200, backoffMaxMs: 1000 } });
    try {
      await migrateLatest(gh.db);
      gh.sender.start();
      const address = to('default');
      await gh.outbox.enqueue(gh.db, verifyMail(address, 'http://127.0.0.1:1/verify-email/x'));
      const files = await waitUntil('an .eml file', async () => {
        try {
          const found = readdirSync(config.mailer.outbox).filter((f) => f.endsWith('.eml'));
          return found.length > 0 && found;
        } catch {
          return undefined;
        }
      });
      expect(files).toHaveLength(1);
      expect(readFileSync(path.join(config.mailer.outbox, files[0]!), 'utf8')).toContain(address);
    } finally {
      await gh.close();
    }
  });

  it('never delivers one mail twice when two instances send from the same database', async () => {
    const a = await start();
    const b = await start();
    const batch = Array.from({ length: 20 }, (_, i) => to(`pair${String(i).padStart(2, '0')}`));
    // One transaction, so both senders see all 20 at the same moment.
    await withTransaction(a.gh.db, async (trx) => {
      for (const address of batch) await a.gh.outbox.enqueue(trx, verifyMail(address, `${a.url}/verify-email/${address}`));
    });
    a.gh.sender.kick();
    b.gh.sender.kick();
    await Promise.all([a.gh.sender.sendDue(), b.gh.sender.sendDue(), a.gh.sender.sendDue(), b.gh.sender.sendDue()]);

    await waitUntil('20 mails', async () => batch.every((address) => mailsTo(address).length > 0));
    // Both senders have nothing left to send and no pass under way: a duplicate would have arrived by now.
    await Promise.all([a.gh.sender.drained(), b.gh.sender.drained()]);
    const counts = batch.map((address) => mailsTo(address).length);
    expect(counts).toEqual(batch.map(() => 1));
    const rows = (await listMail(a.gh.db)).filter((r) => batch.includes(r.to));
    expect(rows).toHaveLength(20);
    expect(rows.every((r) => r.status === 'sent' && r.attempts === 0)).toBe(true);
  });
});
