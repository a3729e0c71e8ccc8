/**
 * The admin API's OpenAPI document as served at /admin/api/openapi.json: it
 * is a valid OpenAPI 3.1 document (the official schema, through
 * @seriousme/openapi-schema-validator) whose schemas are valid JSON Schema
 * 2020-12 and whose references all resolve; it lists every operation of
 * `operations` with its method and path, once, with the operation's name as
 * its operationId, its path parameters declared, no body on GET/DELETE, 201
 * for creating operations, the Error schema for every refusal; and its paths
 * are exactly the routes the router has. Operations are read from the
 * registry, so one added later is checked without being named here.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApiPrefix, adminApiRoutes, type AdminApiDeps } from '../../src/admin/api/index.ts';
import { pathParams } from '../../src/admin/operation.ts';
import { operations } from '../../src/admin/ops/index.ts';
import { startAdminApi, type AdminApi } from '../helpers/admin-api.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';

// The document is walked as plain JSON, its shape checked by the validator above all else.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

// The JSON Schema 2020-12 meta-schema check uses the Ajv the validator itself runs on.
const requireFromValidator = createRequire(import.meta.resolve('@seriousme/openapi-schema-validator'));
const Ajv2020 = requireFromValidator('ajv/dist/2020.js').default as new (options: Json) => {
  validateSchema(schema: unknown): boolean;
  errors?: unknown;
};

const openApiPath = (koaPath: string) => koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const bodyless = new Set(['GET', 'DELETE']);

/** Every Schema Object of the document, with where it is. */
function schemaObjects(doc: Json): Array<[string, unknown]> {
  const found: Array<[string, unknown]> = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, op] of Object.entries(item as Json)) {
      const at = `${method.toUpperCase()} ${path}`;
      for (const p of op.parameters ?? []) found.push([`${at} parameter ${p.name}`, p.schema]);
      for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Json)) found.push([`${at} body ${type}`, media.schema]);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        for (const [type, media] of Object.entries((response.content ?? {}) as Json)) found.push([`${at} ${status} ${type}`, media.schema]);
        for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) found.push([`${at} ${status} header ${name}`, header.schema]);
      }
    }
  }
  for (const [name, schema] of Object.entries((doc.components?.schemas ?? {}) as Json)) found.push([`components.schemas.${name}`, schema]);
  return found;
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((item) => refsIn(item, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else refsIn(value, out);
    }
  }
  return out;
}

function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

describe('admin API OpenAPI document', () => {
  let db: TestDatabase;
  let api: AdminApi;
  let doc: Json;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    api = await startAdminApi(db);
    const answer = await api.call('GET', '/openapi.json', { bearer: null });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    doc = answer.body;
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  it('is served without a bearer and validates against the OpenAPI 3.1 schema', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers).toEqual([{ url: `${api.server.url}${adminApiPrefix}` }]);
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has schemas that are valid JSON Schema 2020-12 and references that all resolve inside the document', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const invalid = schemaObjects(doc).filter(([, schema]) => !ajv.validateSchema(schema));
    expect(invalid.map(([where]) => where)).toEqual([]);
    const dangling = [...new Set(refsIn(doc))].filter((ref) => resolvePointer(doc, ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('lists every operation once, at its method and path, named by its operationId', () => {
    const routes = operations.map((op) => `${op.method} ${op.path}`);
    expect(routes.filter((route, i) => routes.indexOf(route) !== i)).toEqual([]);
    const names = operations.map((op) => op.name);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
    for (const op of operations) {
      const documented = doc.paths[openApiPath(op.path)]?.[op.method.toLowerCase()];
      expect(documented, `${op.method} ${op.path} (${op.name})`).toBeDefined();
      expect(documented.operationId).toBe(op.name);
      expect(documented.summary).toBe(op.summary);
      expect(documented.tags).toEqual([op.tag]);
    }
    const documentedIds = Object.values(doc.paths as Json).flatMap((item) => Object.values(item as Json).map((op) => op.operationId as string));
    expect(documentedIds.length).toBe(operations.length);
    expect(new Set(documentedIds).size).toBe(documentedIds.length);
  });

  it('declares every path parameter, and each is a field of the operation input', () => {
    for (const op of operations) {
      const documented = doc.paths[openApiPath(op.path)][op.method.toLowerCase()];
      const declared = (documented.parameters as Json[]).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), op.name).toEqual(pathParams(op.path).sort());
      for (const p of declared) expect(p.required, `${op.name} ${p.name}`).toBe(true);
      for (const name of pathParams(op.path)) expect(Object.keys(op.input.shape), `${op.name} takes ${name} from its path`).toContain(name);
      const all = (documented.parameters as Json[]).map((p) => `${p.in}:${p.name}`);
      expect(
        all.filter((p, i) => all.indexOf(p) !== i),
        `${op.name} parameters`,
      ).toEqual([]);
    }
  });

  it('gives GET and DELETE operations no request body, and documents the query of paginated lists', () => {
    for (const op of operations) {
      const documented = doc.paths[openApiPath(op.path)][op.method.toLowerCase()];
      if (bodyless.has(op.method)) expect(documented.requestBody, op.name).toBeUndefined();
      if (op.paginated) {
        const query = (documented.parameters as Json[]).filter((p) => p.in === 'query').map((p) => p.name);
        expect(query, op.name).toEqual(expect.arrayContaining(['limit', 'cursor']));
        const limit = (documented.parameters as Json[]).find((p) => p.name === 'limit');
        expect(limit?.schema.maximum).toBe(200);
        const schema = documented.responses['200'].content['application/json'].schema;
        expect(Object.keys(schema.properties).sort(), op.name).toEqual(['items', 'nextCursor']);
      }
    }
  });

  it('documents 201 for operations that create, 200 for the others, and the Error schema for every refusal', () => {
    expect(doc.components.schemas.Error.required).toEqual(['error', 'error_description']);
    expect(Object.keys(doc.components.schemas.Error.properties).sort()).toEqual(['error', 'error_description', 'field']);
    for (const op of operations) {
      const documented = doc.paths[openApiPath(op.path)][op.method.toLowerCase()];
      const statuses = Object.keys(documented.responses);
      if (/\.create$/.test(op.name)) expect(op.status, `${op.name} creates: status 201`).toBe(201);
      const success = String(op.status ?? 200);
      expect(
        statuses.filter((s) => /^2/.test(s)),
        op.name,
      ).toEqual([success]);
      expect(documented.responses[success].content['application/json'].schema, op.name).toBeDefined();
      expect(statuses, op.name).toEqual(expect.arrayContaining(['400', '401', '403', '404', '409', '429']));
      for (const status of statuses.filter((s) => /^4/.test(s) || s === 'default')) {
        expect(documented.responses[status].content['application/json'].schema, `${op.name} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      }
      expect(documented.responses['401'].headers['WWW-Authenticate']).toBeDefined();
    }
  });

  it('has exactly the routes the router has (the document itself aside)', () => {
    const router = adminApiRoutes({ gh: api.server.gh } as AdminApiDeps);
    const routed = new Set<string>();
    for (const layer of router.stack) {
      const path = String(layer.path);
      if (!path.startsWith(adminApiPrefix) || path === `${adminApiPrefix}/openapi.json`) continue;
      for (const method of layer.methods.filter((m: string) => m !== 'HEAD')) routed.add(`${method} ${openApiPath(path.slice(adminApiPrefix.length))}`);
    }
    const documented = new Set(
      Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item as Json).map((method) => `${method.toUpperCase()} ${path}`)),
    );
    expect(
      [...documented].filter((route) => !routed.has(route)),
      'documented but not routed',
    ).toEqual([]);
    expect(
      [...routed].filter((route) => !documented.has(route)),
      'routed but not documented',
    ).toEqual([]);
    expect(routed.size).toBe(operations.length);
  });

  it("is what the README's Admin API section lists: every route, and no route that is not there", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Admin API\n'), readme.indexOf('\n## ', readme.indexOf('\n## Admin API\n') + 1));
    expect(section.length).toBeGreaterThan(100);
    const listed = [...section.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) \/admin\/api(\/[^`]*)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    const routes = operations.map((op) => `${op.method} ${op.path}`);
    expect(
      listed.filter((route) => !routes.includes(route)),
      'in the README but not routed',
    ).toEqual([]);
    expect(
      routes.filter((route) => !listed.includes(route)),
      'routed but not in the README',
    ).toEqual([]);
    // The curl examples call routes that exist (ID stands for an id).
    const patterns = operations.map((op) => new RegExp(`^${op.path.replace(/:[A-Za-z0-9_]+/g, '[^/?]+')}(\\?|$)`));
    const called = [...readme.matchAll(/http:\/\/127\.0\.0\.1:3000\/admin\/api(\/[^\s'"]*)/g)].map((m) => m[1]!).filter((p) => !p.startsWith('/openapi.json'));
    expect(called.length).toBeGreaterThan(0);
    expect(called.filter((path) => !patterns.some((re) => re.test(path)))).toEqual([]);
  });
});
