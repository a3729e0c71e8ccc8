/**
 * Writing mail: a decision renders its mail from `views/email/<name>.{txt,html}.njk`
 * and queues it in its own transaction, so no decision waits on SMTP and nothing
 * is lost when SMTP is down. Rendering is handed in (domain code does not import
 * nunjucks).
 */
import { enqueueMail } from '../db/repos/mail-outbox.ts';
import type { DbOrTrx } from '../db/knex.ts';
import type { Clock } from '../lib/clock.ts';

export type RenderMail = (template: string, context: Record<string, unknown>) => { text: string; html: string };

export interface OutgoingMail {
  to: string;
  subject: string;
  template: string;
  context: Record<string, unknown>;
}

export class MailOutbox {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly render: RenderMail,
    private readonly clock: Clock,
  ) {}

  async enqueue(db: DbOrTrx, mail: OutgoingMail): Promise<number> {
    const { text, html } = this.render(mail.template, { ...mail.context, subject: mail.subject });
    const id = await enqueueMail(db, { to: mail.to, subject: mail.subject, text, html }, this.clock.now());
    // Wake the sender soon after the caller's transaction has committed.
    setTimeout(() => this.listeners.forEach((wake) => wake()), 20).unref();
    return id;
  }

  onEnqueued(wake: () => void): void {
    this.listeners.add(wake);
  }
}
