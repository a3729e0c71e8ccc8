/**
 * The working tree's config.yaml and data/ belong to whoever runs Gatehouse from
 * the checkout: the README has them edit config.yaml (gating on), and `serve`
 * writes data/. No test may read them, or `npm test` would say something else
 * after following the README. Tests that check the shipped config.yaml read it
 * from git (test/helpers/shipped.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const testDir = fileURLToPath(new URL('../', import.meta.url));

/** Every .ts file under test/, relative to it. */
function testSources(dir = testDir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return testSources(full);
    return entry.name.endsWith('.ts') ? [path.relative(testDir, full)] : [];
  });
}

/** A path into the repository root's config.yaml or data/: a quoted ../../config.yaml (new URL, path.resolve) or repoRoot joined with it. */
const workingTreePaths = [/(['"`])(?:\.\.\/)+(?:config\.yaml|data)(?:\/[^'"`]*)?\1/, /\brepoRoot\b\s*,\s*(['"`])(?:config\.yaml|data)\b/];

describe("the tests and the working tree's own files", () => {
  it('finds the test sources', () => {
    expect(testSources()).toEqual(expect.arrayContaining(['config/load.test.ts', 'docs/readme.test.ts', 'helpers/shipped.ts']));
  });

  it("never point at the repository's config.yaml or data/", () => {
    const offending = testSources().flatMap((file) =>
      readFileSync(path.join(testDir, file), 'utf8')
        .split('\n')
        .map((line, i) => ({ at: `test/${file}:${i + 1}`, line: line.trim() }))
        .filter(({ line }) => workingTreePaths.some((pattern) => pattern.test(line))),
    );
    expect(offending).toEqual([]);
  });
});
