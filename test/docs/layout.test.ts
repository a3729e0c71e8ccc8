/**
 * Every folder under src/ opens with a short doc (README.md, or an index.ts that
 * starts with a doc comment) saying what it is and what it may import, and the
 * README's layout section names every top-level folder (issue 11, section 5).
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = path.join(root, 'src');

function folders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [path.join(dir, e.name), ...folders(path.join(dir, e.name))]);
}

function filesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

const all = folders(src).map((dir) => path.relative(root, dir));

describe('folder docs under src/', () => {
  it.each(all)('%s opens with a README.md saying what it may import, or an index.ts doc comment', (dir) => {
    const readme = path.join(root, dir, 'README.md');
    if (existsSync(readme)) {
      expect(readFileSync(readme, 'utf8')).toMatch(/\*\*May import:\*\* \S/);
    } else {
      expect(readFileSync(path.join(root, dir, 'index.ts'), 'utf8')).toMatch(/^\/\*\*\s/);
    }
  });

  it('the README layout section names every top-level folder', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const layout = readme.slice(readme.indexOf('## Layout'));
    expect(layout.length).toBeLessThan(readme.length);
    for (const dir of all.filter((d) => d.split(path.sep).length === 2)) expect(layout, dir).toContain(`\`${dir}/\``);
  });

  it('domain folders count through their own interfaces, not prom-client or src/metrics.ts', () => {
    for (const folder of ['gating', 'identity', 'registration', 'devices', 'audit', 'mail']) {
      for (const file of filesIn(path.join(src, folder))) {
        expect(readFileSync(file, 'utf8'), path.relative(root, file)).not.toMatch(/from '(prom-client|(\.\.\/)+metrics\.ts)'/);
      }
    }
  });
});
