/**
 * The import-direction rule of eslint.config.js (STYLE.md section 2), run through ESLint's own
 * API on snippets placed at paths inside src/: the same import is refused in one layer and
 * accepted in the layer allowed to make it.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

/** The messages of the layer rules for `code` as if it were the file `path` (relative to the repository). */
async function layerFindings(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${path}` });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports' || m.ruleId === 'no-restricted-properties' || m.fatal)
    .map((m) => m.message);
}

describe('import direction (eslint.config.js)', () => {
  it('refuses koa in src/gating/ and accepts it in src/http/', async () => {
    const code = "import Koa from 'koa';\nexport const app = new Koa();\n";
    expect(await layerFindings('src/gating/new-rule.ts', code)).toEqual([expect.stringContaining('never imports Koa')]);
    expect(await layerFindings('src/http/new-route.ts', code)).toEqual([]);
  });

  it('refuses @koa/router and nunjucks in a domain subfolder', async () => {
    const code = "import Router from '@koa/router';\nimport nunjucks from 'nunjucks';\nexport const both = [Router, nunjucks];\n";
    expect(await layerFindings('src/identity/connectors/new-connector.ts', code)).toHaveLength(2);
  });

  it('refuses oidc-provider in src/identity/ and accepts it in src/oidc/', async () => {
    const code = "import { Provider } from 'oidc-provider';\nexport const P = Provider;\n";
    expect(await layerFindings('src/identity/new-step.ts', code)).toEqual([expect.stringContaining('Only src/oidc/ imports oidc-provider')]);
    expect(await layerFindings('src/oidc/new-step.ts', code)).toEqual([]);
  });

  it('refuses an import that points up a layer, at any depth, and accepts one that points down', async () => {
    expect(await layerFindings('src/gating/new-rule.ts', "export { createApp } from '../http/app.ts';\n")).toHaveLength(1);
    expect(await layerFindings('src/identity/connectors/x.ts', "export { createApp } from '../../http/app.ts';\n")).toHaveLength(1);
    expect(await layerFindings('src/db/repos/x.ts', "export { decideAccess } from '../../gating/access.ts';\n")).toHaveLength(1);
    expect(await layerFindings('src/errors.ts', "export { createKnex } from './db/knex.ts';\n")).toHaveLength(1);
    expect(await layerFindings('src/gating/new-rule.ts', "export { withTransaction } from '../db/transaction.ts';\n")).toEqual([]);
    // A sibling file named like a layer is not that layer.
    expect(await layerFindings('src/identity/connectors/x.ts', "export * from './oidc.ts';\n")).toEqual([]);
  });

  it('refuses process.env in domain code', async () => {
    expect(await layerFindings('src/mail/new-sender.ts', 'export const host = process.env.SMTP_HOST;\n')).toEqual([expect.stringContaining('process.env')]);
  });
});
