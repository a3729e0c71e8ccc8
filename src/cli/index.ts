/**
 * The `gatehouse` program: global options, one folder per noun under commands/,
 * and the one place that turns errors into a line on stderr and an exit code.
 * Commands hold no rules: parse, call one service, print.
 */
import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import { defaultConfigPath, loadConfig, requireSet } from '../config/load.ts';
import { createGatehouse, type Gatehouse } from '../context.ts';
import { migrateLatest } from '../db/migrate.ts';
import { asDatabaseError } from '../db/flavor.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import { clientCommands } from './commands/client/index.ts';
import { keysCommands } from './commands/keys/index.ts';
import { migrateCommand } from './commands/migrate.ts';
import { serveCommand } from './commands/serve.ts';
import { userCommands } from './commands/user/index.ts';
import { aclTokenCommands } from './commands/acl-token/index.ts';
import { clientTokenCommands } from './commands/client-token/index.ts';
import { joinRequestCommands } from './commands/join-request/index.ts';
import { registrationTokenCommands } from './commands/registration-token/index.ts';
import { deviceCommands } from './commands/device/index.ts';
import { deviceTokenCommands } from './commands/device-token/index.ts';
import { agentCommands } from './commands/agent/index.ts';
import { adminKeyCommands } from './commands/admin-key/index.ts';
import { auditCommands } from './commands/audit/index.ts';
import { exitCodes, unexpectedError, usageError } from './exit-codes.ts';
import { createOutput, type Output } from './output.ts';
import { version } from './version.ts';

export interface CommandEnv {
  gh: Gatehouse;
  out: Output;
  /** Who the audit log names for this command. */
  actor: string;
}

interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export interface GatehouseCommandOptions {
  migrate?: boolean;
  logLevel?: string | undefined;
  /**
   * Config keys whose `${VAR}` must be set for this command (a key covers what
   * is below it); `all` for every key. Default: `database`. The others may be
   * unset: `device list` needs no DEVICE_JWT_SECRET.
   */
  needs?: readonly string[] | 'all';
}

/**
 * Wraps a command body: loads the config, opens the database (migrating it, so
 * every command works on a fresh install), runs, and always closes.
 */
export function withGatehouse<A extends unknown[]>(body: (env: CommandEnv, ...args: A) => Promise<void>, options: GatehouseCommandOptions = {}) {
  return async (...args: [...A, Command]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const globals = cmd.optsWithGlobals<GlobalOptions>();
    const config = loadConfig(globals.config ?? defaultConfigPath(process.env), process.env, { deferUnset: true });
    const needs = options.needs ?? ['database'];
    requireSet(config, needs === 'all' ? undefined : needs);
    const level = 'logLevel' in options ? (options.logLevel ?? config.log.level) : config.log.level === 'info' ? 'warn' : config.log.level;
    const gh = createGatehouse({ ...config, log: { level: level as typeof config.log.level } });
    try {
      if (options.migrate !== false) await migrateLatest(gh.db);
      await body({ gh, out: createOutput(Boolean(globals.json)), actor: `cli:${userInfo().username}` }, ...(args.slice(0, -1) as A));
    } finally {
      await gh.close();
    }
  };
}

/** Commander's own messages ("error: unknown option …") get the one prefix every other error has: "gatehouse: …". */
const outputError = (text: string, write: (s: string) => void) => write(text.replace(/^error: /, 'gatehouse: '));

export function buildProgram(): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse: an OpenID Connect provider that lets nobody in until someone says yes')
    .version(version, '-V, --version', 'print the version of Gatehouse')
    .option('-c, --config <path>', 'config file (default: $GATEHOUSE_CONFIG or ./config.yaml)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const command of [
    serveCommand(),
    migrateCommand(),
    userCommands(),
    clientCommands(),
    keysCommands(),
    aclTokenCommands(),
    clientTokenCommands(),
    joinRequestCommands(),
    registrationTokenCommands(),
    deviceCommands(),
    deviceTokenCommands(),
    agentCommands(),
    adminKeyCommands(),
    auditCommands(),
  ]) {
    program.addCommand(command);
  }
  const exitOverrideAll = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ outputError });
    cmd.commands.forEach(exitOverrideAll);
  };
  exitOverrideAll(program);
  return program;
}

function describe(err: unknown): { message: string; exitCode: number } {
  // The database layer reports outages as `database.unavailable`; a driver error that escaped it is sorted the same way.
  const known = asDatabaseError(err);
  if (isGatehouseError(known, 'database.unavailable')) {
    // At a terminal the operator wants the driver's own reason ("connect ECONNREFUSED 127.0.0.1:5432").
    return { message: `cannot reach the database: ${String(known.details?.reason ?? known.message)}`, exitCode: exitCodes['database.unavailable'] };
  }
  if (err instanceof GatehouseError) return { message: err.message, exitCode: exitCodes[err.code] };
  const e = err as { code?: string; message?: string };
  if (process.env.GATEHOUSE_DEBUG) console.error(err);
  return { message: `unexpected error: ${e?.message ?? String(err)}`, exitCode: unexpectedError };
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : usageError;
    const { message, exitCode } = describe(err);
    process.stderr.write(`gatehouse: ${message}\n`);
    return exitCode;
  }
}
