/**
 * The README's configuration section and the shipped config.yaml are checked
 * against the schema: a key added to config/schema.ts without documentation
 * fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.ts';

function keysOf(schema: z.ZodType, prefix = '', depth = 0): string[] {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodPipe) {
    inner = inner instanceof z.ZodPipe ? (inner.in as z.ZodType) : (inner.unwrap() as z.ZodType);
  }
  if (!(inner instanceof z.ZodObject) || depth > 1) return [];
  return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, value]) => [`${prefix}${key}`, ...keysOf(value, `${prefix}${key}.`, depth + 1)]);
}

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const shipped = readFileSync(new URL('../../config.yaml', import.meta.url), 'utf8');
const keys = keysOf(configSchema);

describe('documentation of the configuration', () => {
  it('finds the configuration keys in the schema', () => {
    expect(keys).toEqual(expect.arrayContaining(['issuer', 'database', 'firstauth.mode', 'ttl.accessToken', 'security.passwordHashQueue']));
  });

  it.each(keys)('README mentions %s', (key) => {
    expect(readme).toContain(`\`${key.split('.').at(-1)}\``);
  });

  it.each(keys.filter((k) => !k.includes('.')))('the shipped config.yaml documents %s', (key) => {
    expect(shipped).toMatch(new RegExp(`^#?\\s*${key}:`, 'm'));
  });
});
