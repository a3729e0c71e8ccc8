/** `gatehouse audit list`: the audit log, newest first, filtered like GET /admin/api/audit. */
import { Command } from 'commander';
import { invoke } from '../../../admin/operation.ts';
import { listAudit } from '../../../admin/ops/audit.ts';
import { parseDurationSeconds } from '../../../config/duration.ts';
import { GatehouseError } from '../../../errors.ts';
import { withGatehouse } from '../../index.ts';

function limit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new GatehouseError('input.invalid', `--limit must be a positive whole number, not "${value}"`);
  return Number(value);
}

interface ListOptions {
  actor?: string;
  action?: string;
  subject?: string;
  client?: string;
  since?: string;
  limit: string;
}

export function auditCommands(): Command {
  const audit = new Command('audit').description('the audit log: every gating decision and admin action');
  audit
    .command('list')
    .description('list audit entries, newest first')
    .option('--actor <actor>', 'only this actor (admin:<email>, key:<id>, cli:<user>, system…)')
    .option('--action <action>', 'only this action, or a family ending in * (client.*)')
    .option('--subject <id>', 'only entries about this subject')
    .option('--client <id>', 'only entries about this client')
    .option('--since <duration>', 'only the last 30m, 12h, 7d…')
    .option('--limit <n>', 'at most this many entries', '50')
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: ListOptions) => {
        const max = limit(opts.limit);
        const from = opts.since === undefined ? undefined : new Date(gh.clock.now() - parseDurationSeconds(opts.since) * 1000).toISOString();
        const entries = await invoke(listAudit, { gh, actor }, { actor: opts.actor, action: opts.action, subject: opts.subject, client: opts.client, from });
        out.table(entries.slice(0, max), ['id', 'time', 'actor', 'action', 'subject', 'client', 'details']);
      }),
    );
  return audit;
}
