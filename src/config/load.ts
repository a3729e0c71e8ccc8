/**
 * Loads `config.yaml`: YAML → `${VAR}` from the environment → schema check.
 * Every problem is collected and reported together, each with its key path,
 * file and line, so an operator fixes a config in one pass.
 *
 * A missing variable stops loading, unless the caller defers it (`deferUnset`):
 * the CLI does, so `device list` runs without the `DEVICE_JWT_SECRET` only the
 * server and `device-token create` use. The key then holds a stand-in and is
 * listed in `config.unset`; `requireSet` stops, with the same key-and-line
 * message, whatever needs it (`serve` needs every key).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { GatehouseError } from '../errors.ts';
import { configSchema, type Config, type UnsetValue } from './schema.ts';

export interface ConfigProblem {
  path: string;
  line?: number | undefined;
  message: string;
}

type Env = Record<string, string | undefined>;

export interface LoadOptions {
  /** Load keys whose `${VAR}` is not set with a stand-in, listed in `config.unset`, instead of stopping. */
  deferUnset?: boolean;
}
type KeyPath = (string | number)[];

const variable = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function defaultConfigPath(env: Env): string {
  return env.GATEHOUSE_CONFIG ?? './config.yaml';
}

export function loadConfig(file: string, env: Env = process.env, options: LoadOptions = {}): Config {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new GatehouseError('config.invalid', `cannot read config ${absolute}: ${reason}`);
  }
  return parseConfig(text, absolute, env, options);
}

export function parseConfig(text: string, file: string, env: Env = process.env, options: LoadOptions = {}): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);

  const problems: ConfigProblem[] = doc.errors.map((e) => ({
    path: '(yaml)',
    // With prettyErrors off, yaml leaves linePos unset: derive the line from the offset.
    line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
    message: e.message.split('\n')[0] ?? e.message,
  }));

  const unset: UnsetValue[] = [];
  substituteEnv(doc.contents as Node | null, [], env, (keyPath, node, name) =>
    unset.push({ path: formatPath(keyPath), file, line: lineOf(node), variable: name }),
  );
  const unsetProblems = unset.map((u): ConfigProblem => ({ path: u.path, line: u.line, message: `environment variable ${u.variable} is not set` }));
  problems.push(...unsetProblems);

  if (doc.errors.length === 0) {
    const result = configSchema.safeParse(doc.toJS() ?? {});
    const fatal = options.deferUnset ? problems.length - unsetProblems.length : problems.length;
    if (result.success && fatal === 0) {
      return resolvePaths({ ...result.data, baseDir: path.dirname(file), ...(unset.length > 0 ? { unset } : {}) });
    }
    for (const issue of result.error?.issues ?? []) {
      const keyPath = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      // A key whose variable is missing holds a stand-in: its own problem is that variable, said above.
      if (unset.some((u) => within(formatPath(keyPath), u.path))) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const at = [...keyPath, key];
          problems.push({ path: formatPath(at), line: lineOf(nodeAt(doc.contents as Node, at, true)), message: 'unknown key' });
        }
      } else {
        problems.push({ path: formatPath(keyPath), line: lineOf(nodeAt(doc.contents as Node, keyPath)), message: issue.message });
      }
    }
  }

  throw invalidConfig(file, problems);
}

/**
 * Stops a use of the config that needs a key whose `${VAR}` was not set, with
 * the message loading would have given. `needed` are key paths (a key covers
 * everything below it); without them every key is needed, as by `serve`.
 */
export function requireSet(config: Config, needed?: readonly string[]): void {
  const missing = (config.unset ?? []).filter((u) => !needed || needed.some((key) => within(u.path, key)));
  const [first] = missing;
  if (!first) return;
  throw invalidConfig(
    first.file,
    missing.map((u) => ({ path: u.path, line: u.line, message: `environment variable ${u.variable} is not set` })),
  );
}

function invalidConfig(file: string, problems: ConfigProblem[]): GatehouseError {
  const lines = problems.map((p) => `  ${file}${p.line ? `:${p.line}` : ''}  ${p.path}: ${p.message}`);
  return new GatehouseError('config.invalid', `invalid config ${file}:\n${lines.join('\n')}`, { problems });
}

/** `keyPath` is `key` or lies below it (`clients` covers `clients[0].client_secret`). */
function within(keyPath: string, key: string): boolean {
  return keyPath === key || keyPath.startsWith(`${key}.`) || keyPath.startsWith(`${key}[`);
}

/**
 * What an unset key holds when loading is deferred: a string long enough for any
 * secret's length check, saying what it is should it ever be shown.
 */
const standIn = (name: string) => `(environment variable ${name} is not set)`;

function substituteEnv(node: Node | null, keyPath: KeyPath, env: Env, missing: (keyPath: KeyPath, node: Node, name: string) => void): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isPair(pair)) substituteEnv(pair.value as Node | null, [...keyPath, String((pair.key as { value?: unknown })?.value ?? pair.key)], env, missing);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteEnv(item as Node, [...keyPath, i], env, missing));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/.exec(node.value);
    let unsetName: string | undefined;
    const substituted = node.value.replace(variable, (_m, name: string, fallback: string | undefined) => {
      // As in the shell, `${VAR:-fallback}` also covers a variable set to the empty string.
      const value = fallback !== undefined && !env[name] ? fallback : env[name];
      if (value === undefined) {
        missing(keyPath, node, name);
        unsetName ??= name;
        return '';
      }
      return value;
    });
    const replaced = unsetName === undefined ? substituted : standIn(unsetName);
    // A value that is one variable alone keeps YAML's typing (`port: ${SMTP_PORT}` is a number).
    node.value = whole && /^-?\d+$/.test(replaced) ? Number(replaced) : whole && /^(true|false)$/.test(replaced) ? replaced === 'true' : replaced;
  }
}

function nodeAt(root: Node | null, keyPath: KeyPath, wantKey = false): Node | null {
  let node: Node | null = root;
  let last: Node | null = root;
  for (const [i, part] of keyPath.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && String((p.key as { value?: unknown })?.value) === String(part));
      if (!pair) return last;
      node = (wantKey && i === keyPath.length - 1 ? pair.key : pair.value) as Node | null;
    } else if (isSeq(node) && typeof part === 'number') {
      node = (node.items[part] as Node | undefined) ?? null;
    } else {
      return last;
    }
    if (node) last = node;
  }
  return node ?? last;
}

function formatPath(keyPath: KeyPath): string {
  if (keyPath.length === 0) return '(root)';
  return keyPath.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function resolvePaths(config: Config): Config {
  const inBase = (p: string) => path.resolve(config.baseDir, p);
  return {
    ...config,
    database:
      config.database.client === 'sqlite'
        ? { ...config.database, filename: config.database.filename === ':memory:' ? ':memory:' : inBase(config.database.filename) }
        : config.database,
    mailer: { ...config.mailer, outbox: inBase(config.mailer.outbox) },
    deviceRegistration: config.deviceRegistration.allowedManufacturerIds
      ? { ...config.deviceRegistration, allowedManufacturerIds: inBase(config.deviceRegistration.allowedManufacturerIds) }
      : config.deviceRegistration,
  };
}
