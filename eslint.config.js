// ESLint flat config. Besides the usual recommended rules it encodes the direction of imports
// from STYLE.md section 2:
//   http, admin, cli → oidc → domain (gating, identity, registration, devices, audit, mail) → db → config, errors, lib
// A folder may import its own layer and the layers below it, never one above. Only src/oidc/
// imports oidc-provider; domain code never imports koa or nunjucks and never reads process.env.
//
// The rule is no-restricted-imports (typescript-eslint's, which can allow type-only imports): relative specifiers are matched by a regex
// built for the file's depth under src/ (`../http/` from src/gating/x.ts, `../../http/` from
// src/identity/connectors/x.ts), so a sibling that happens to share a folder's name never
// matches. test/lint/layers.test.ts proves the rule on real snippets.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const domain = ['gating', 'identity', 'registration', 'devices', 'audit', 'mail'];

/** Folders and root files under src/ that each layer may not import. */
const above = {
  base: ['db', ...domain, 'oidc', 'http', 'admin', 'cli', 'agent', 'context', 'main', 'metrics'],
  db: [...domain, 'oidc', 'http', 'admin', 'cli', 'agent', 'context', 'main', 'metrics'],
  domain: ['oidc', 'http', 'admin', 'cli', 'agent', 'context', 'main'],
  oidc: ['http', 'admin', 'cli', 'agent', 'main'],
  http: ['cli', 'agent', 'main'],
  admin: ['cli', 'agent', 'main'],
  account: ['cli', 'agent', 'main'],
  agent: ['db', ...domain, 'oidc', 'http', 'admin', 'cli', 'context', 'main'],
};

const koa = {
  regex: '^(koa|koa-.*|@koa/.*)$',
  message: 'Domain code never imports Koa (STYLE.md section 2): take plain values, let src/http/ do the HTTP.',
};
const nunjucks = { regex: '^nunjucks$', message: 'Templates are rendered in src/http/ (and the mail sender), not in the domain.' };
const oidcProvider = {
  regex: '^oidc-provider(/.*)?$',
  message: 'Only src/oidc/ imports oidc-provider (STYLE.md section 2); deep internals only via src/oidc/internals.ts.',
};

/** One regex for the forbidden folders/files of `names`, as seen from a file `depth` folders below src/. */
function ours(names, depth, layer) {
  const up = depth === 0 ? '\\./' : '(\\.\\./){' + depth + '}';
  return {
    regex: '^' + up + '(' + names.join('|') + ')(/|\\.(ts|js)$)',
    message: `src/${layer} may not import this layer: imports point one way, http/admin/cli → oidc → domain → db → config/errors/lib (STYLE.md section 2).`,
  };
}

/**
 * Config blocks for one layer: `dirs` are folders under src/ (or root files), `extra` the
 * package patterns it may not import. One block per depth so the regex knows how far up src/ is.
 */
function layer(name, dirs, extra = [], options = {}) {
  const blocks = [];
  for (const dir of dirs) {
    const isFile = dir.endsWith('.ts');
    const depths = isFile ? [0] : [1, 2, 3, 4];
    for (const depth of depths) {
      const files = isFile ? [`src/${dir}`] : [`src/${dir}/${'*/'.repeat(depth - 1)}*.ts`];
      blocks.push({
        files,
        rules: {
          '@typescript-eslint/no-restricted-imports': ['error', { patterns: [ours(above[name], depth, isFile ? dir : dir + '/'), ...extra] }],
          ...options,
        },
      });
    }
  }
  return blocks;
}

const noEnv = {
  'no-restricted-properties': [
    'error',
    { object: 'process', property: 'env', message: 'Domain code never reads process.env: it is handed the Config slice it needs.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'scratch/', 'test-results/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: {
      // Unused names: tsc's noUnusedLocals/noUnusedParameters already decide this.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
  {
    // Every file of src/ outside src/oidc/ may not import oidc-provider; the blocks below narrow further.
    // src/types/ holds declarations that fill oidc-provider's type gaps (module augmentation).
    files: ['src/**/*.ts'],
    ignores: ['src/types/**'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [oidcProvider] }] },
  },
  {
    // The few plain scripts served to browsers (Keycloak compatibility pages).
    files: ['views/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', URLSearchParams: 'readonly' },
    },
  },
  {
    // TypeScript checks undefined names itself (and knows DOM/Node globals from its lib).
    files: ['**/*.ts'],
    rules: { 'no-undef': 'off' },
  },
  ...layer('base', ['config', 'lib', 'errors.ts'], [oidcProvider]),
  ...layer('db', ['db'], [oidcProvider]),
  ...layer('domain', domain, [koa, nunjucks, oidcProvider, { regex: '^prom-client$', message: 'Metrics reach the domain as an interface.' }], noEnv),
  ...layer('oidc', ['oidc'], []),
  // http/ may name oidc-provider's types (Provider, KoaContextWithOIDC) but not import its code.
  ...layer('http', ['http'], [{ ...oidcProvider, allowTypeImports: true }]),
  // admin/ likewise: its routes take oidc-provider's types; what it needs of the provider is in src/oidc/.
  ...layer('admin', ['admin'], [{ ...oidcProvider, allowTypeImports: true }]),
  ...layer('account', ['account'], [{ ...oidcProvider, allowTypeImports: true }]),
  ...layer('agent', ['agent'], [koa, nunjucks, oidcProvider]),
);
