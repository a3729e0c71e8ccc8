/** `gatehouse user …`: people and their identities. */
import { Command } from 'commander';
import { GatehouseError } from '../../../errors.ts';
import { isEmail } from '../../../lib/email.ts';
import { invoke } from '../../../admin/operation.ts';
import {
  createUser,
  deleteUser,
  disableUser,
  enableUser,
  listUsers,
  resetUserMfa,
  revokeUserAccess,
  setUserPassword,
  showUser,
} from '../../../admin/ops/users.ts';
import { withGatehouse } from '../../index.ts';

const columns = ['id', 'email', 'name', 'status', 'created', 'lastLogin'];

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
        const {
          identities: _identities,
          factors: _factors,
          ...created
        } = await invoke(createUser, { gh, actor }, { email: opts.email, name: opts.name, password, aclTokenId: opts.aclTokenId });
        out.record(
          created,
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
        out.record({ ...(await invoke(setUserPassword, { gh, actor }, { id, password })), hasPassword: true });
      }),
    );

  user
    .command('list')
    .description('list users')
    .action(
      withGatehouse(async ({ gh, out, actor }) => {
        out.table(await invoke(listUsers, { gh, actor }, {}), columns);
      }),
    );

  user
    .command('show')
    .description('show one user and its identities')
    .argument('<id>', 'user id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(showUser, { gh, actor }, { id }));
      }),
    );

  for (const [verb, op] of [
    ['disable', disableUser],
    ['enable', enableUser],
  ] as const) {
    user
      .command(verb)
      .description(verb === 'disable' ? 'disable a user (ends their sessions and tokens)' : 'enable a disabled user')
      .argument('<id>', 'user id')
      .action(
        withGatehouse(async ({ gh, out, actor }, id: string) => {
          out.record(await invoke(op, { gh, actor }, { id }));
        }),
      );
  }

  user
    .command('delete')
    .description('delete a user, its identities, sessions and tokens')
    .argument('<id>', 'user id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(deleteUser, { gh, actor }, { id }));
      }),
    );

  user
    .command('revoke-access')
    .description("end a user's access to one client (the next sign-in to it shows the gate; its refresh tokens stop)")
    .argument('<id>', 'user id')
    .argument('<client>', 'client id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string, client: string) => {
        out.record(await invoke(revokeUserAccess, { gh, actor }, { id, client }));
      }),
    );

  user
    .command('reset-mfa')
    .description("remove a user's second factors and recovery codes (they enroll again at their next sign-in where one is required)")
    .argument('<id>', 'user id')
    .action(
      withGatehouse(async ({ gh, out, actor }, id: string) => {
        out.record(await invoke(resetUserMfa, { gh, actor }, { id }));
      }),
    );
  return user;
}
