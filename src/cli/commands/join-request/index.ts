/** `gatehouse join-request list|approve|deny`: the same decisions as the mailed links. */
import { Command, Option } from 'commander';
import type { JoinRequestRow } from '../../../db/repos/join-requests.ts';
import { withGatehouse } from '../../index.ts';
import { iso } from '../../output.ts';

export function joinRequestView(r: JoinRequestRow): Record<string, unknown> {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    email: r.email,
    name: r.name,
    client: r.client_id,
    message: r.message,
    created: iso(r.created_at),
    decidedBy: r.decided_by,
    decided: iso(r.decided_at),
    aclTokenId: r.acl_token_id,
  };
}

export function joinRequestCommands(): Command {
  const jr = new Command('join-request').description('requests to join or for access');

  jr.command('list')
    .description('list join requests')
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'approved', 'denied', 'expired']))
    .action(
      withGatehouse(async ({ gh, out }, opts: { status?: 'pending' | 'approved' | 'denied' | 'expired' }) => {
        out.table((await gh.joinRequests.list(opts.status)).map(joinRequestView), ['id', 'kind', 'status', 'email', 'name', 'client', 'created']);
      }),
    );

  for (const decision of ['approve', 'deny'] as const) {
    jr.command(decision)
      .description(decision === 'approve' ? 'approve: a personal invitation for the client, mailed to the requester' : 'deny: a polite refusal by mail')
      .argument('<id>', 'join request id')
      .action(
        withGatehouse(async ({ gh, out, actor }, id: string) => {
          out.record(joinRequestView(await gh.joinRequests.decide(id, decision, actor)));
        }),
      );
  }
  return jr;
}
