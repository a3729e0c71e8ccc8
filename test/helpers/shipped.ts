/**
 * The files the repository ships (config.yaml), as committed: git's HEAD, never
 * the working tree's copy. A user edits that one as the README suggests (gating
 * on), and then `npm test` must say what it said before. Without git, or outside
 * a checkout (a source tarball), the tests that read them skip loudly; under
 * CI=true (a clone) that is a failure, like a missing service.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { missing } from './services.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `name` (relative to the repository root) as committed at HEAD; undefined (after a loud warning) when git cannot say. */
export function shippedFile(name: string): string | undefined {
  try {
    // Inside some other repository (a tarball unpacked in one), HEAD would be that repository's.
    const top = git(['rev-parse', '--show-toplevel']).trim();
    if (realpathSync(top) !== realpathSync(repoRoot)) throw new Error(`${repoRoot} is not the top of a git checkout (${top} is)`);
    return git(['show', `HEAD:${name}`]);
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    return missing(`the committed ${name} (git show HEAD:${name})`, (e.stderr?.trim() || e.message) ?? String(err)) || undefined;
  }
}
