/** `gatehouse user …`: people and their identities. */
import { Command } from 'commander';
import { GatehouseError } from '../../../errors.ts';
import { isEmail } from '../../../lib/email.ts';
import type { UserRow } from '../../../db/repos/users.ts';
import { withGatehouse } from '../../index.ts';
import { iso } from '../../output.ts';
import type { Gatehouse } from '../../../context.ts';

const columns = ['id', 'email', 'name', 'status', 'created', 'lastLogin'];

export function userView(u: UserRow): Record<string, unknown> {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    status: u.status,
    created: new Date(u.created_at).toISOString(),
    lastLogin: u.last_login_at ? new Date(u.last_login_at).toISOString() : null,
  };
}

/** The clients a user can reach now, with the expiry of that access (null = no end). */
async function accessView(gh: Gatehouse, userId: string): Promise<Record<string, unknown>[]> {
  if (gh.gate.mode === 'open') return [{ client: '*', via: 'gating off', expires: null }];
  return (await gh.gate.accessList(userId)).map((a) => ({ client: a.client_id, aclTokenId: a.acl_token_id, expires: iso(a.expires_at) }));
}

async function readPasswordFromStdin(command: string): Promise<string> {
  if (process.stdin.isTTY)
    throw new GatehouseError('input.invalid', `--password-stdin expects the password on standard input (e.g. echo "$PW" | gatehouse ${command} ...)`);
  // Read the stream, not /dev/stdin: opening that fails (ENXIO) when stdin is a socket, as under Node's child_process.
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new GatehouseError('input.invalid', 'no password was given on standard input');
  return password;
}

export function userCommands(): Command {
  const user = new Command('user').description('manage users');

  user
    .command('create')
    .description('create a user with a local (e-mail + password) identity')
    .requiredOption('--email <email>', 'e-mail address (also the login name)')
    .option('--name <name>', 'display name')
    .option('--password-stdin', 'read the password from standard input')
    .option('--no-password', 'make the account without a password (it cannot sign in until `user set-password`)')
    .option('--acl-token-id <id>', 'give the user this invitation (counts one use) and the access it links')
    .action(
      withGatehouse(async ({ gh, out, actor }, opts: { email: string; name?: string; passwordStdin?: boolean; password: boolean; aclTokenId?: string }) => {
        if (!isEmail(opts.email)) throw new GatehouseError('input.invalid', `"${opts.email}" is not an e-mail address`);
        // An account nobody can sign in to is made only when asked for by name (as Keycloak's admin makes one, then sets credentials).
        if (opts.passwordStdin && !opts.password) throw new GatehouseError('input.invalid', 'give either --password-stdin or --no-password, not both');
        if (!opts.passwordStdin && opts.password) {
          throw new GatehouseError(
            'input.invalid',
            'a password is needed to sign in: give it on standard input with --password-stdin (echo "$PW" | gatehouse user create --email E --password-stdin), or make the account without one with --no-password and set it later with `gatehouse user set-password ID --password-stdin`',
          );
        }
        const password = opts.passwordStdin ? await readPasswordFromStdin('user create') : undefined;
        const tokenId = opts.aclTokenId;
        const created = await gh.users.createLocal(
          { email: opts.email, name: opts.name, password },
          actor,
          tokenId ? (trx, user) => gh.gate.attachToken(trx, user.id, tokenId, actor) : undefined,
        );
        out.record(
          { ...userView(created), hasPassword: password !== undefined, access: await accessView(gh, created.id) },
          password
            ? undefined
            : `No password: ${created.email} cannot sign in until one is set with: echo "$PW" | gatehouse user set-password ${created.id} --password-stdin`,
        );
      }),
    );

  user
    .command('set-password')
    .description("set or replace the password of a user's local account (read from standard input)")
    .argument('<id>', 'user id')
    .requiredOption('--password-stdin', 'read the password from standard input (never from argv)')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        await gh.users.get(id); // an unknown id is refused before anyone types a password
        const password = await readPasswordFromStdin('user set-password');
        out.record({ ...userView(await gh.users.setPassword(id, password, actor)), hasPassword: true });
      }),
    );

  user
    .command('list')
    .description('list users')
    .action(
      withGatehouse(async ({ gh, out }) => {
        out.table((await gh.users.list()).map(userView), columns);
      }),
    );

  user
    .command('show')
    .description('show one user and its identities')
    .argument('<id>', 'user id')
    .action(
      withGatehouse(async ({ gh, out }, id: string) => {
        const details = await gh.users.get(id);
        out.record({
          ...userView(details),
          identities: details.identities.map((i) => ({ connector: i.connector_id, subject: i.subject, email: i.email })),
          access: await accessView(gh, id),
        });
      }),
    );

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    user
      .command(verb)
      .description(verb === 'disable' ? 'disable a user (ends their sessions and tokens)' : 'enable a disabled user')
      .argument('<id>', 'user id')
      .action(
        withGatehouse(async ({ gh, out, actor }, id: string) => {
          out.record(userView(await gh.users.setStatus(id, status, actor)));
        }),
      );
  }

  user
    .command('delete')
    .description('delete a user, its identities, sessions and tokens')
    .argument('<id>', 'user id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        await gh.users.delete(id, actor);
        out.record({ id, deleted: true });
      }),
    );
  return user;
}
