/**
 * A registered client's own approvers (`gatehouse client set-approvers ID
 * EMAIL...`, SPEC 9): a JSON array of e-mail addresses, or null when the
 * client has none and its join/access requests and approval mails go to the
 * global approvers (firstauth.mailer.receiver, else the admins). Static
 * clients keep theirs in config.yaml (`clients[].approvers`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.text('approvers').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('registered_client', (t) => {
    t.dropColumn('approvers');
  });
}
