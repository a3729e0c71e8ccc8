/**
 * Delivering mail: takes due rows from the outbox with a lease (so several
 * instances never send one mail twice), sends them through nodemailer, and on
 * failure keeps the row and retries with exponential backoff. With no SMTP host
 * the "transport" writes .eml files to the outbox folder.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Db } from '../db/knex.ts';
import { claimMail, listDueMail, markMailFailed, markMailSent, type OutboxRow } from '../db/repos/mail-outbox.ts';
import { isGatehouseError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';

export interface SmtpSettings {
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  password?: string | undefined;
  secure?: boolean | undefined;
  from?: string | undefined;
}

export interface SenderOptions {
  smtp: SmtpSettings;
  outboxDir: string;
  defaultFrom: string;
  pollMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export class MailSender {
  private readonly transport: Transporter | undefined;
  private readonly from: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: SenderOptions,
  ) {
    const { smtp } = options;
    this.from = smtp.from ?? smtp.user ?? options.defaultFrom;
    this.transport = smtp.host
      ? nodemailer.createTransport({
          host: smtp.host,
          port: smtp.port ?? 587,
          secure: smtp.secure ?? smtp.port === 465,
          auth: smtp.user && smtp.password ? { user: smtp.user, pass: smtp.password } : undefined,
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 20_000,
        })
      : undefined;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.pollMs ?? 5000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.transport?.close();
  }

  /** Sends what is due now; overlapping calls coalesce into one more pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sendDue()
      .then(() => undefined)
      .catch((err: unknown) => {
        // An outage is not the sender's fault: the mail stays queued and the next pass tries again.
        if (isGatehouseError(err, 'database.unavailable')) this.logger.warn({ details: err.details }, 'mail sender paused: database unavailable');
        else this.logger.error({ err }, 'mail sender pass failed');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Resolves once no pass is under way and no mail is due: what tests wait on
   * (instead of sleeping) before they check that nothing more was sent. Mail
   * waiting for a later retry is not due. A stopped sender is drained once its
   * last pass has ended.
   */
  async drained(): Promise<void> {
    for (;;) {
      while (this.running) await this.running;
      if (this.stopped) return;
      if ((await listDueMail(this.db, this.clock.now(), 1)).length === 0 && !this.running) return;
      this.kick();
    }
  }

  /** One pass over the due mail; returns how many were sent. */
  async sendDue(): Promise<number> {
    let sent = 0;
    const due = await listDueMail(this.db, this.clock.now(), 50);
    for (const mail of due) {
      if (this.stopped && sent > 0) break;
      if (!(await claimMail(this.db, mail.id, this.clock.now(), 60_000))) continue;
      try {
        await this.deliver(mail);
        await markMailSent(this.db, mail.id, this.clock.now());
        sent += 1;
      } catch (err) {
        const base = this.options.backoffBaseMs ?? 5000;
        const delay = Math.min(base * 2 ** mail.attempts, this.options.backoffMaxMs ?? 3_600_000);
        const message = err instanceof Error ? err.message : String(err);
        await markMailFailed(this.db, mail.id, message, this.clock.now() + delay);
        this.logger.warn({ mailId: mail.id, to: mail.to, attempts: mail.attempts + 1, retryInMs: delay, error: message }, 'mail not sent, will retry');
      }
    }
    return sent;
  }

  private async deliver(mail: OutboxRow): Promise<void> {
    const message = { from: this.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? undefined };
    if (this.transport) {
      await this.transport.sendMail(message);
      this.logger.info({ mailId: mail.id, to: mail.to, subject: mail.subject }, 'mail sent');
      return;
    }
    const built = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }).sendMail(message);
    await mkdir(this.options.outboxDir, { recursive: true });
    const file = path.join(this.options.outboxDir, `${new Date(mail.created_at).toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
    // Written aside and renamed, so whoever watches the folder never reads half a mail.
    await writeFile(`${file}.part`, built.message as Buffer);
    await rename(`${file}.part`, file);
    this.logger.info({ mailId: mail.id, to: mail.to, subject: mail.subject, file }, 'mail written to outbox (no SMTP host configured)');
  }
}
