/**
 * The OpenAPI 3.1 document of the admin API, generated from the operations'
 * zod schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits),
 * so it cannot drift from what the routes accept and answer.
 *
 * Named (`.meta({ id })`) and recursive schemas come out of zod as `$defs`
 * with `#/$defs/…` (or `#`) references, which inside an OpenAPI document would
 * point at the document's root: they are moved to `components.schemas` and
 * the references rewritten to match.
 */
import { z } from 'zod';
import { pathParams, type AnyOperation } from '../operation.ts';
import { pageOf } from './pagination.ts';

type Json = Record<string, unknown>;

/** The schemas shared through `components.schemas`, filled while the document is built. */
type Components = Record<string, Json>;

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function rewriteRefs(node: unknown, to: (ref: string) => string): unknown {
  if (Array.isArray(node)) return node.map((item) => rewriteRefs(item, to));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' ? to(value) : rewriteRefs(value, to)]),
  );
}

/** `schema` as a JSON Schema for the document; `name` (`users.list.output`) names what it has to hoist. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output', components: Components, name: string): Json {
  const { $schema: _ignored, $defs, ...root } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  const local = ($defs ?? {}) as Record<string, Json>;
  const names = new Map<string, string>();
  for (const [id, def] of Object.entries(local)) {
    // zod's own names (`__schema0`) are per call; a named schema keeps its name unless another one took it.
    const wanted = id.startsWith('__') ? `${name}.${id}` : id;
    names.set(id, components[wanted] && !sameJson(components[wanted], def) ? `${name}.${id}` : wanted);
  }
  let selfReferenced = false;
  const to = (ref: string): string => {
    if (ref === '#') {
      selfReferenced = true;
      return `#/components/schemas/${name}`;
    }
    const id = ref.startsWith('#/$defs/') ? ref.slice('#/$defs/'.length) : undefined;
    return id !== undefined && names.has(id) ? `#/components/schemas/${names.get(id)}` : ref;
  };
  for (const [id, def] of Object.entries(local)) components[names.get(id)!] = rewriteRefs(def, to) as Json;
  const body = rewriteRefs(root, to) as Json;
  if (!selfReferenced) return body;
  components[name] = body;
  return { $ref: `#/components/schemas/${name}` };
}

const errorBody = z.object({
  error: z.string().describe('a stable code, e.g. input.invalid, not_found, join_request.already_decided'),
  error_description: z.string().describe('what went wrong, in plain words'),
  field: z.string().optional().describe('for input.invalid: the field at fault'),
});

const errorResponses: Record<string, string> = {
  '400': 'Bad input (the field is named)',
  '401': 'No or an unknown bearer token',
  '403': 'The token is not an admin’s',
  '404': 'No such thing',
  '409': 'Conflicts with the current state (already decided, already exists)',
  '429': 'Too many calls; see Retry-After',
  default: 'Any other refusal (410 gone, 413 body too large, 503 unavailable), in the same shape',
};

const errorHeaders: Record<string, Json> = {
  '401': { 'WWW-Authenticate': { description: '`Bearer realm="gatehouse-admin"`', schema: { type: 'string' } } },
  '429': { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer', minimum: 1 } } },
};

/** The query parameters the API reads itself on paginated routes (never handed to the operation). */
const pageParams = ['limit', 'cursor'];

const isOptional = (schema: z.ZodType) => schema.safeParse(undefined).success;

function parameters(op: AnyOperation, components: Components): Json[] {
  const shape = op.input.shape as Record<string, z.ZodType>;
  const inPath = pathParams(op.path);
  const list: Json[] = inPath.map((name) => {
    const described = shape[name]?.description;
    return {
      name,
      in: 'path',
      required: true,
      schema: schemaOf(shape[name] ?? z.string(), 'input', components, `${op.name}.path.${name}`),
      ...(described ? { description: described } : {}),
    };
  });
  if (op.method === 'GET' || op.method === 'DELETE') {
    for (const [name, schema] of Object.entries(shape)) {
      if (inPath.includes(name) || (op.paginated && pageParams.includes(name))) continue;
      const described = schema.description;
      list.push({
        name,
        in: 'query',
        required: !isOptional(schema),
        schema: schemaOf(schema, 'input', components, `${op.name}.query.${name}`),
        ...(described ? { description: described } : {}),
      });
    }
  }
  if (op.paginated) {
    list.push(
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 }, description: 'items per page' },
      { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: '`nextCursor` of the previous page' },
    );
  }
  return list;
}

function requestBody(op: AnyOperation, components: Components): Json | undefined {
  if (op.method === 'GET' || op.method === 'DELETE') return undefined;
  const inPath = pathParams(op.path);
  const shape = Object.fromEntries(Object.entries(op.input.shape as Record<string, z.ZodType>).filter(([k]) => !inPath.includes(k)));
  if (Object.keys(shape).length === 0) return undefined;
  const body = z.object(shape);
  // A body whose fields are all optional may be left out.
  const required = Object.values(shape).some((field) => !isOptional(field));
  return { required, content: { 'application/json': { schema: schemaOf(body, 'input', components, `${op.name}.body`) } } };
}

export function openApiDocument(operations: readonly AnyOperation[], serverUrl: string, version: string): Json {
  const components: Components = {};
  const paths: Record<string, Json> = {};
  for (const op of operations) {
    const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const output = op.paginated ? pageOf(op.output) : op.output;
    const body = requestBody(op, components);
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.name,
      summary: op.summary,
      tags: [op.tag],
      parameters: parameters(op, components),
      ...(body ? { requestBody: body } : {}),
      responses: {
        [String(op.status ?? 200)]: {
          description: op.status === 201 ? 'Created' : 'OK',
          content: { 'application/json': { schema: schemaOf(output, 'output', components, `${op.name}.output`) } },
        },
        ...Object.fromEntries(
          Object.entries(errorResponses).map(([status, description]) => [
            status,
            {
              description,
              ...(errorHeaders[status] ? { headers: errorHeaders[status] } : {}),
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          ]),
        ),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version,
      description:
        'Everything the `gatehouse` CLI does for admins, over HTTP. Authenticate with `Authorization: Bearer <API key>` (gatehouse admin-key create) or an admin’s access token with the `gatehouse:admin` scope. Lists come in pages: `limit` (at most 200) and `cursor` (the `nextCursor` of the previous page).',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key or an admin access token' } },
      schemas: { ...components, Error: schemaOf(errorBody, 'output', components, 'Error') },
    },
  };
}
