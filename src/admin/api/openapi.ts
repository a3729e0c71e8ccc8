/**
 * The OpenAPI 3.1 document of the admin API, generated from the operations'
 * zod schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits),
 * so it cannot drift from what the routes accept and answer.
 */
import { z } from 'zod';
import { pathParams, type AnyOperation } from '../operation.ts';
import { pageOf } from './pagination.ts';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  return rest;
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
};

const isOptional = (schema: z.ZodType) => schema.safeParse(undefined).success;

function parameters(op: AnyOperation): Json[] {
  const shape = op.input.shape as Record<string, z.ZodType>;
  const inPath = pathParams(op.path);
  const list: Json[] = inPath.map((name) => ({ name, in: 'path', required: true, schema: schemaOf(shape[name] ?? z.string(), 'input') }));
  if (op.method === 'GET' || op.method === 'DELETE') {
    for (const [name, schema] of Object.entries(shape)) {
      if (inPath.includes(name)) continue;
      const described = schema.description;
      list.push({ name, in: 'query', required: !isOptional(schema), schema: schemaOf(schema, 'input'), ...(described ? { description: described } : {}) });
    }
  }
  if (op.paginated) {
    list.push(
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
      { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: '`nextCursor` of the previous page' },
    );
  }
  return list;
}

function requestBody(op: AnyOperation): Json | undefined {
  if (op.method === 'GET' || op.method === 'DELETE') return undefined;
  const inPath = pathParams(op.path);
  const shape = Object.fromEntries(Object.entries(op.input.shape as Record<string, z.ZodType>).filter(([k]) => !inPath.includes(k)));
  if (Object.keys(shape).length === 0) return undefined;
  const body = z.object(shape);
  return { required: true, content: { 'application/json': { schema: schemaOf(body, 'input') } } };
}

export function openApiDocument(operations: readonly AnyOperation[], serverUrl: string, version: string): Json {
  const paths: Record<string, Json> = {};
  for (const op of operations) {
    const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const output = op.paginated ? pageOf(op.output) : op.output;
    const body = requestBody(op);
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.name,
      summary: op.summary,
      tags: [op.tag],
      parameters: parameters(op),
      ...(body ? { requestBody: body } : {}),
      responses: {
        [String(op.status ?? 200)]: { description: 'OK', content: { 'application/json': { schema: schemaOf(output, 'output') } } },
        ...Object.fromEntries(
          Object.entries(errorResponses).map(([status, description]) => [
            status,
            { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
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
        'Everything the `gatehouse` CLI does for admins, over HTTP. Authenticate with `Authorization: Bearer <API key>` (gatehouse admin-key create) or an admin’s access token with the `gatehouse:admin` scope.',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key or an admin access token' } },
      schemas: { Error: schemaOf(errorBody, 'output') },
    },
  };
}
