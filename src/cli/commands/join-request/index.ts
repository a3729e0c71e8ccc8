/** `gatehouse join-request list|show|approve|deny`: the same decisions as the mailed links, through the admin operations. */
import { Command, Option } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { approveJoinRequest, denyJoinRequest, joinRequestStatuses, listJoinRequests, showJoinRequest } from '../../../admin/ops/join-requests.ts';
import { withGatehouse } from '../../index.ts';

export function joinRequestCommands(): Command {
  const jr = new Command('join-request').description('requests to join or for access');

  jr.command('list')
    .description('list join requests')
    .addOption(new Option('--status <status>', 'only this status').choices([...joinRequestStatuses]))
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: { status?: (typeof joinRequestStatuses)[number] }) => {
        out.table(await invoke(listJoinRequests, { gh, actor }, { status: opts.status }), ['id', 'kind', 'status', 'email', 'name', 'client', 'created']);
      }),
    );

  jr.command('show')
    .description('show one join request')
    .argument('<id>', 'join request id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showJoinRequest, { gh, actor }, { id }));
      }),
    );

  jr.command('approve')
    .description('approve: a personal invitation for the client, mailed to the requester')
    .argument('<id>', 'join request id')
    .option('--for <duration>', 'the access ends after this long (30s, 15m, 12h, 7d) or on this ISO date; default: no end')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string, opts: { for?: string }) => {
        out.record(await invoke(approveJoinRequest, { gh, actor }, { id, for: opts.for }));
      }),
    );

  jr.command('deny')
    .description('deny: a polite refusal by mail')
    .argument('<id>', 'join request id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(denyJoinRequest, { gh, actor }, { id }));
      }),
    );
  return jr;
}
