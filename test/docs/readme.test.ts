/**
 * The README's configuration section and the shipped config.yaml are checked
 * against the schema: a key added to config/schema.ts without documentation
 * fails here.
 * Also what it promises a new user: the exit codes, where example state files
 * go, the supported Node.js releases.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.ts';
import { exitCodeMeanings, exitCodes } from '../../src/cli/exit-codes.ts';
import { shippedFile } from '../helpers/shipped.ts';

function keysOf(schema: z.ZodType, prefix = '', depth = 0): string[] {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodPipe) {
    inner = inner instanceof z.ZodPipe ? (inner.in as z.ZodType) : (inner.unwrap() as z.ZodType);
  }
  if (!(inner instanceof z.ZodObject) || depth > 1) return [];
  return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, value]) => [
    `${prefix}${key}`,
    ...keysOf(value, `${prefix}${key}.`, depth + 1),
  ]);
}

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** As committed (the working tree's copy is the user's to edit); undefined without git. */
const shipped = shippedFile('config.yaml');
const keys = keysOf(configSchema);

describe('documentation of the configuration', () => {
  it('finds the configuration keys in the schema', () => {
    expect(keys).toEqual(expect.arrayContaining(['issuer', 'database', 'firstauth.mode', 'ttl.accessToken', 'security.passwordHashQueue']));
  });

  it.each(keys)('README mentions %s', (key) => {
    expect(readme).toContain(`\`${key.split('.').at(-1)}\``);
  });

  it.skipIf(shipped === undefined).each(keys.filter((k) => !k.includes('.')))('the shipped config.yaml documents %s', (key) => {
    expect(shipped).toMatch(new RegExp(`^#?\\s*${key}:`, 'm'));
  });
});

describe('what the README promises a new user (issue 10, items 17, 21, 22)', () => {
  it('lists every exit code with its one meaning, as src/cli/exit-codes.ts has them', () => {
    const listed = new Map([...readme.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]!.replace(/`/g, '')]));
    for (const [code, meaning] of Object.entries(exitCodeMeanings)) expect(listed.get(Number(code)), `exit code ${code}`).toBe(meaning.replace(/`/g, ''));
    // Every number an error can end with has its line: no number means two things, none goes unexplained.
    for (const code of new Set(Object.values(exitCodes))) expect(exitCodeMeanings).toHaveProperty(String(code));
    expect(exitCodes['join_request.already_decided']).not.toBe(exitCodes['agent.state_invalid']);
  });

  it("keeps the examples' agent state files out of the repository", () => {
    const states = [...readme.matchAll(/--state ([^\s\]`|]+)/g)].map((m) => m[1]!).filter((file) => file !== 'FILE');
    expect(states.length).toBeGreaterThan(5);
    for (const file of states) expect(file, `--state ${file}`).toMatch(/^(~\/|\/)/);
  });

  it('states the package.json engines range, and the tests run on a Node.js inside it', () => {
    const engines = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(readme).toContain(`\`engines\`: \`${engines}\``);
    const [major, minor, patch] = process.versions.node.split('.').map(Number) as [number, number, number];
    const satisfies = engines.split('||').some((range) => {
      const m = /^\s*(\^|>=)(\d+)\.(\d+)\.(\d+)\s*$/.exec(range);
      if (!m) throw new Error(`cannot read the range "${range}"`);
      const [want, have] = [
        [Number(m[2]), Number(m[3]), Number(m[4])],
        [major, minor, patch],
      ] as const;
      const atLeast = have[0] !== want[0] ? have[0] > want[0] : have[1] !== want[1] ? have[1] > want[1] : have[2] >= want[2];
      return atLeast && (m[1] === '>=' || have[0] === want[0]);
    });
    expect(satisfies, `Node.js ${process.versions.node} within ${engines}`).toBe(true);
    // The version the README says the tests run on is the one they run on.
    expect(readme).toContain(`run on Node.js ${major}.${minor}`);
  });
});
