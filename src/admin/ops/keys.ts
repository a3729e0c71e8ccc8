/**
 * Signing keys: list the published ones (active = signs; retired = published
 * only, until what it signed has expired), rotate (a new active key per
 * algorithm), revoke one kid at once (refused for an algorithm's last active
 * key: rotate first). Running servers follow within the key refresh interval.
 * Rotations and revocations are audited (`keys.rotated`, `keys.revoked`).
 */
import { z } from 'zod';
import type { KeyInfo } from '../../oidc/keys.ts';
import { operation } from '../operation.ts';
import { idParam } from './shapes.ts';

export const signingKey = z.object({
  kid: z.string(),
  alg: z.string(),
  state: z.enum(['active', 'retired (published)']).describe('active: signs new tokens; retired (published): only verifies what it signed'),
  createdAt: z.iso.datetime(),
  retiredAt: z.iso.datetime().nullable(),
});

export const revokedKey = z.object({ kid: z.string(), alg: z.string(), state: z.literal('revoked') });

const keyView = (k: KeyInfo): z.input<typeof signingKey> => ({ kid: k.kid, alg: k.alg, state: k.state, createdAt: k.createdAt, retiredAt: k.retiredAt });

export const listKeys = operation({
  name: 'keys.list',
  method: 'GET',
  path: '/keys',
  tag: 'keys',
  summary: 'List the published signing keys, active ones and retired ones still published',
  input: z.object({}),
  output: z.array(signingKey),
  async run({ gh }) {
    await gh.keys.ensure();
    return (await gh.keys.list()).map(keyView);
  },
});

export const rotateKeys = operation({
  name: 'keys.rotate',
  method: 'POST',
  path: '/keys/rotate',
  tag: 'keys',
  summary: 'Add a new signing key per algorithm; the old ones stop signing but stay published until their tokens expire',
  input: z.object({}),
  output: z.array(signingKey),
  status: 201,
  async run({ gh, actor }) {
    await gh.keys.ensure();
    const made = await gh.keys.rotate();
    await gh.audit.record(gh.db, { actor, action: 'keys.rotated', details: { kids: made.map((k) => k.kid) } });
    return made.map(keyView);
  },
});

export const revokeKey = operation({
  name: 'keys.revoke',
  method: 'POST',
  path: '/keys/:kid/revoke',
  tag: 'keys',
  summary: "Remove a signing key from the JWKS now (what it signed stops verifying); an algorithm's last active key is refused (409): rotate first",
  input: z.object({ kid: idParam }),
  output: revokedKey,
  async run({ gh, actor }, { kid }) {
    await gh.keys.ensure();
    const revoked = await gh.keys.revoke(kid);
    await gh.audit.record(gh.db, { actor, action: 'keys.revoked', subject: revoked.kid, details: { kid: revoked.kid, alg: revoked.alg } });
    return { kid: revoked.kid, alg: revoked.alg, state: 'revoked' as const };
  },
});

export const keyOps = [listKeys, rotateKeys, revokeKey];
