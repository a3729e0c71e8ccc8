/**
 * Quorum (SPEC 9, `clients[].approvals: N`): the approvals counted so far for
 * a join or access request, one row per approver (the same approver twice
 * counts once: the pair is unique). A request is approved when N different
 * approvers have a row here; the status change itself stays the conditional
 * update of `join_request` (`where status = 'pending'`).
 * `join_request.decision_note`: the note an approver gave with the decision on
 * `/review` (shown to the person under "My requests"); null when none.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('join_request_approval', (t) => {
    t.string('join_request_id', 36).notNullable().references('id').inTable('join_request').onDelete('CASCADE');
    // The approver's e-mail address, lower-cased.
    t.string('approver', 320).notNullable();
    t.bigInteger('decided_at').notNullable();
    t.primary(['join_request_id', 'approver']);
  });
  await knex.schema.alterTable('join_request', (t) => {
    t.text('decision_note');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('join_request', (t) => {
    t.dropColumn('decision_note');
  });
  await knex.schema.dropTableIfExists('join_request_approval');
}
