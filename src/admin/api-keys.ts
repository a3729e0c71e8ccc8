/**
 * Admin API keys (`adminApi.keys` in config.yaml): `ghk_<id>_<secret>`, of
 * which the config keeps only `{ id, hash }` (SHA-256, base64url: the secret
 * has 256 bits, so a fast hash is enough). `gatehouse admin-key create` makes
 * one and prints the key once; the server checks a presented key by its id
 * and compares hashes in constant time.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual, randomSecret } from '../lib/secrets.ts';

export const apiKeyPrefix = 'ghk_';

export interface ApiKeyEntry {
  id: string;
  hash: string;
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('base64url')}`;
}

export function makeApiKey(id: string): { key: string; entry: ApiKeyEntry } {
  const key = `${apiKeyPrefix}${id}_${randomSecret(32)}`;
  return { key, entry: { id, hash: hashApiKey(key) } };
}

/** The id of the configured key `presented` is, or undefined. */
export function matchApiKey(keys: readonly ApiKeyEntry[], presented: string): string | undefined {
  if (!presented.startsWith(apiKeyPrefix)) return undefined;
  // The secret is base64url (may contain `_`): the id is everything before the last 43 characters and their `_`.
  const rest = presented.slice(apiKeyPrefix.length);
  const id = rest.slice(0, -44);
  if (rest.length < 45 || rest[rest.length - 44] !== '_') return undefined;
  const entry = keys.find((k) => k.id === id);
  return entry && constantTimeEqual(hashApiKey(presented), entry.hash) ? entry.id : undefined;
}
