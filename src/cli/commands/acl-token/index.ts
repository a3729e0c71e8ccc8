/** `gatehouse acl-token create|list|show|revoke`: invitations. The secret is printed once, at creation. */
import { Command } from 'commander';
import { parseExpiry } from '../../../config/duration.ts';
import type { AclTokenRow, ClientTokenRow } from '../../../db/repos/acl-tokens.ts';
import { GatehouseError } from '../../../errors.ts';
import { aclTokenState, clientTokenState } from '../../../gating/acl-tokens.ts';
import { withGatehouse } from '../../index.ts';
import { iso } from '../../output.ts';

export function aclTokenView(row: AclTokenRow, now: number): Record<string, unknown> {
  return {
    id: row.id,
    description: row.description,
    kind: row.kind,
    maxUsers: row.max_users,
    uses: row.uses,
    state: aclTokenState(row, now),
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
    createdBy: row.created_by,
  };
}

export function clientTokenView(row: ClientTokenRow, now: number): Record<string, unknown> {
  return {
    id: row.id,
    client: row.client_id,
    state: clientTokenState(row, now),
    expires: iso(row.expires_at),
    revoked: iso(row.revoked_at),
    created: iso(row.created_at),
  };
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new GatehouseError('input.invalid', `--max-users must be a whole number (0 = unlimited), not "${value}"`);
  return Number(value);
}

export function aclTokenCommands(): Command {
  const acl = new Command('acl-token').description('invitations (ACL tokens)');

  acl
    .command('create')
    .description('create an invitation; prints the token and link once')
    .requiredOption('--max-users <n>', '1 = personal, N = at most N people, 0 = unlimited')
    .requiredOption('--client <ids...>', 'client ids the invitation opens')
    .option('--client-expires <duration>', 'how long the access to those clients lasts (30d, ISO date)')
    .option('--expires <duration>', 'until when the invitation can be used (30d, ISO date)')
    .option('--description <text>', 'what it is for')
    .action(
      withGatehouse(
        async ({ gh, out, actor }, opts: { maxUsers: string; client: string[]; clientExpires?: string; expires?: string; description?: string }) => {
          const now = gh.clock.now();
          const made = await gh.aclTokens.create(
            {
              maxUsers: wholeNumber(opts.maxUsers),
              clients: [...new Set(opts.client)],
              clientExpiresAt: opts.clientExpires ? parseExpiry(opts.clientExpires, new Date(now)).getTime() : null,
              expiresAt: opts.expires ? parseExpiry(opts.expires, new Date(now)).getTime() : null,
              description: opts.description ?? null,
            },
            actor,
          );
          out.record(
            {
              ...aclTokenView(made.row, now),
              token: made.token,
              link: `${gh.config.issuer}/invite/${made.token}`,
              clients: made.clientTokens.map((c) => c.client_id),
            },
            'The token is shown only now: copy it or the link.',
          );
        },
      ),
    );

  acl
    .command('list')
    .description('list invitations with their uses')
    .action(
      withGatehouse(async ({ gh, out }) => {
        const now = gh.clock.now();
        out.table(
          (await gh.aclTokens.list()).map((r) => aclTokenView(r, now)),
          ['id', 'kind', 'maxUsers', 'uses', 'state', 'expires', 'description'],
        );
      }),
    );

  acl
    .command('show')
    .description('one invitation, its clients and users')
    .argument('<id>', 'ACL token id')
    .action(
      withGatehouse(async ({ gh, out }, id: string) => {
        const now = gh.clock.now();
        const details = await gh.aclTokens.get(id);
        out.record({ ...aclTokenView(details, now), clients: details.clients.map((c) => clientTokenView(c, now)), users: details.users });
      }),
    );

  acl
    .command('revoke')
    .description('revoke an invitation: its users lose the access it gave at their next authorization or refresh')
    .argument('<id>', 'ACL token id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(aclTokenView(await gh.aclTokens.revoke(id, actor), gh.clock.now()));
      }),
    );
  return acl;
}
