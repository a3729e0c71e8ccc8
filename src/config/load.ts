/**
 * Loads `config.yaml`: YAML → `${VAR}` from the environment → schema check.
 * Every problem is collected and reported together, each with its key path,
 * file and line, so an operator fixes a config in one pass.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { GatehouseError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

export interface ConfigProblem {
  path: string;
  line?: number;
  message: string;
}

type Env = Record<string, string | undefined>;
type KeyPath = (string | number)[];

const variable = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function defaultConfigPath(env: Env): string {
  return env.GATEHOUSE_CONFIG ?? './config.yaml';
}

export function loadConfig(file: string, env: Env = process.env): Config {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new GatehouseError('config.invalid', `cannot read config ${absolute}: ${reason}`);
  }
  return parseConfig(text, absolute, env);
}

export function parseConfig(text: string, file: string, env: Env = process.env): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  const problems: ConfigProblem[] = doc.errors.map((e) => ({
    path: '(yaml)',
    // With prettyErrors off, yaml leaves linePos unset: derive the line from the offset.
    line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
    message: e.message.split('\n')[0] ?? e.message,
  }));

  substituteEnv(doc.contents as Node | null, [], env, (keyPath, node, name) =>
    problems.push({ path: formatPath(keyPath), line: lineOf(node), message: `environment variable ${name} is not set` }));

  if (doc.errors.length === 0) {
    const result = configSchema.safeParse(doc.toJS() ?? {});
    if (result.success && problems.length === 0) {
      return resolvePaths({ ...result.data, baseDir: path.dirname(file) });
    }
    for (const issue of result.error?.issues ?? []) {
      const keyPath = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
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

  const lines = problems.map((p) => `  ${file}${p.line ? `:${p.line}` : ''}  ${p.path}: ${p.message}`);
  throw new GatehouseError('config.invalid', `invalid config ${file}:\n${lines.join('\n')}`, { problems });
}

function substituteEnv(
  node: Node | null,
  keyPath: KeyPath,
  env: Env,
  missing: (keyPath: KeyPath, node: Node, name: string) => void,
): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isPair(pair)) substituteEnv(pair.value as Node | null, [...keyPath, String((pair.key as { value?: unknown })?.value ?? pair.key)], env, missing);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteEnv(item as Node, [...keyPath, i], env, missing));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/.exec(node.value);
    const replaced = node.value.replace(variable, (_m, name: string, fallback: string | undefined) => {
      // As in the shell, `${VAR:-fallback}` also covers a variable set to the empty string.
      const value = fallback !== undefined && !env[name] ? fallback : env[name];
      if (value === undefined) {
        missing(keyPath, node, name);
        return '';
      }
      return value;
    });
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
    database: config.database.client === 'sqlite'
      ? { ...config.database, filename: config.database.filename === ':memory:' ? ':memory:' : inBase(config.database.filename) }
      : config.database,
    mailer: { ...config.mailer, outbox: inBase(config.mailer.outbox) },
    deviceRegistration: config.deviceRegistration.allowedManufacturerIds
      ? { ...config.deviceRegistration, allowedManufacturerIds: inBase(config.deviceRegistration.allowedManufacturerIds) }
      : config.deviceRegistration,
  };
}
