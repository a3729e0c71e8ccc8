/**
 * Every admin API route, whatever it does: the sweep walks `operations` (so a
 * route added later is swept without being named here) and sends each one the
 * calls a careless or hostile client sends. No bearer or a bogus one is a 401
 * with WWW-Authenticate; a malformed JSON body is a 400; an unknown id in the
 * path is a 404 (or a 400 when the id cannot be one); a field of the wrong
 * type is a 400 naming it; a body missing required fields is a 400 naming one
 * of them; a well-formed call is answered below 500 with the operation's
 * status when it succeeds. Every answer is JSON, carries
 * `Cache-Control: no-store`, and is never a 5xx; every refusal is
 * `{ error, error_description }`, and every answer is what the served OpenAPI
 * document says that route answers with that status.
 *
 * Inputs come from the operation's own zod schema: a minimal valid input is
 * made from its JSON Schema and checked with the schema itself; wrong values
 * are picked among a few candidates as the first the field's schema refuses.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pathParams, type AnyOperation } from '../../src/admin/operation.ts';
import { operations } from '../../src/admin/ops/index.ts';
import { startAdminApi, type AdminApi, type ApiAnswer } from '../helpers/admin-api.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../helpers/databases.ts';
import { deviceJwtIssuer, deviceJwtSecret } from '../helpers/devices.ts';
import { register, registered, serviceMetadata } from '../helpers/registration.ts';
import { testClients } from '../helpers/server.ts';

type JsonSchema = Record<string, unknown> & { type?: string | string[] };

const unknownId = 'no-such-id-in-the-sweep';
const writes = new Set(['POST', 'PUT', 'PATCH']);
const inQuery = (op: AnyOperation) => op.method === 'GET' || op.method === 'DELETE';

/** Strings a pattern-checked field may accept (durations, dates, ids, URLs…), tried in order. */
const stringCandidates = [
  'sweep-value-0123456789',
  'sweep',
  '30d',
  '1h',
  'sweep@example.com',
  'https://app.example.com/callback',
  new Date(Date.now() + 86_400_000).toISOString(),
  '2030-01-01',
  'sweep-1',
  'SWEEP',
  '1',
];

function sampleString(schema: JsonSchema): string {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 1;
  if (schema.format === 'email') return 'sweep@example.com';
  if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
  if (schema.format === 'uri' || schema.format === 'url') return 'https://app.example.com/callback';
  if (schema.format === 'uuid') return crypto.randomUUID();
  const fits = (s: string) =>
    s.length >= min &&
    (typeof schema.maxLength !== 'number' || s.length <= schema.maxLength) &&
    (typeof schema.pattern !== 'string' || new RegExp(schema.pattern, 'u').test(s));
  return stringCandidates.find(fits) ?? 'x'.repeat(Math.max(min, 1));
}

/** A minimal value the JSON Schema accepts (required properties only), or undefined when none is found. */
function sample(schema: JsonSchema | undefined): unknown {
  if (!schema || typeof schema !== 'object') return undefined;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as JsonSchema[] | undefined;
    if (options) return sample(options.find((o) => o.type !== 'null') ?? options[0]);
  }
  if (Array.isArray(schema.allOf)) return sample(schema.allOf[0] as JsonSchema);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return sampleString(schema);
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : 1;
    case 'boolean':
      return false;
    case 'array': {
      const n = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: n }, () => sample(schema.items as JsonSchema));
    }
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((name) => [name, sample(properties[name])]));
    }
    default:
      return undefined;
  }
}

/** Values that mean something for fields of these names here (a duration, the configured client), used when the field's schema takes them. */
const hints: Record<string, unknown> = { expires: '30d', clientExpires: '30d', for: '30d', client: 'web', clients: ['web'], approvers: ['boss@example.com'] };

interface Plan {
  op: AnyOperation;
  /** The OpenAPI path with each path parameter set to `unknownId`. */
  path: string;
  params: string[];
  /** Fields other than the path's. */
  fields: Record<string, z.ZodType>;
  required: string[];
  /** A minimal input (path parameters aside) the schema accepts, if one was found. */
  valid: Record<string, unknown> | undefined;
}

function planOf(op: AnyOperation): Plan {
  const params = pathParams(op.path);
  const shape = op.input.shape as Record<string, z.ZodType>;
  const fields = Object.fromEntries(Object.entries(shape).filter(([name]) => !params.includes(name)));
  const required = Object.entries(fields)
    .filter(([, schema]) => !schema.safeParse(undefined).success)
    .map(([name]) => name);
  const made = sample(z.toJSONSchema(op.input, { io: 'input', unrepresentable: 'any' }) as JsonSchema) as Record<string, unknown> | undefined;
  const candidate = Object.fromEntries(
    Object.entries(made ?? {})
      .filter(([name]) => !params.includes(name))
      .map(([name, value]) => [name, name in hints && fields[name]!.safeParse(hints[name]).success ? hints[name] : value]),
  );
  const withIds = { ...candidate, ...Object.fromEntries(params.map((name) => [name, unknownId])) };
  const valid = op.input.safeParse(withIds).success ? candidate : undefined;
  return { op, path: op.path.replace(/:([A-Za-z0-9_]+)/g, unknownId), params, fields, required, valid };
}

/** Values `schema` refuses (at most 4): for the query, strings (or a repeated parameter); for a body, JSON of other types. */
function wrongValues(schema: z.ZodType, query: boolean): unknown[] {
  const candidates: unknown[] = query
    ? [['sweep', 'twice'], 'not a valid value ∅', 'x'.repeat(5000), '-1', '0']
    : [{ sweep: 1 }, 12345, true, 'not a valid value ∅', ['sweep'], 'x'.repeat(5000), -1];
  return candidates.filter((value) => !schema.safeParse(value).success).slice(0, 4);
}

function withQuery(path: string, query: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) search.append(name, typeof one === 'string' ? one : JSON.stringify(one));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

const plans = operations.map(planOf);

// Answers are checked against the served OpenAPI document with the Ajv the OpenAPI validator runs on (JSON Schema 2020-12).
type Check = ((data: unknown) => boolean) & { errors?: unknown };
const Ajv2020 = createRequire(import.meta.resolve('@seriousme/openapi-schema-validator'))('ajv/dist/2020.js').default as new (options: object) => {
  compile(schema: object): Check;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the served document, walked as plain JSON (its shape is openapi.test.ts's)
type OpenApi = Record<string, any>;

/** `check(name, status)`: the documented schema of that answer (`default` for an undocumented status), compiled once. */
function answerChecks(doc: OpenApi): (op: AnyOperation, status: number) => Check | undefined {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  const $defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', '#/$defs/')) as object;
  const compiled = new Map<string, Check | undefined>();
  return (op, status) => {
    const responses = doc.paths[op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[op.method.toLowerCase()]?.responses;
    const key = `${op.name} ${status}`;
    if (!compiled.has(key)) {
      const schema = (responses?.[String(status)] ?? responses?.default)?.content?.['application/json']?.schema;
      compiled.set(key, schema ? ajv.compile(JSON.parse(JSON.stringify({ ...schema, $defs }).replaceAll('#/components/schemas/', '#/$defs/'))) : undefined);
    }
    return compiled.get(key);
  };
}

describe.each(databaseKinds)('admin API route sweep on %s', (kind) => {
  let db: TestDatabase;
  let api: AdminApi;
  let checkOf: ReturnType<typeof answerChecks>;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    api = await startAdminApi(db, {
      admins: ['root@example.com'],
      clients: [testClients.web],
      firstauth: { enable: true, mode: 'manual', mailer: { receiver: 'boss@example.com' } },
      registration: { enabled: true },
      deviceRegistration: { enabled: true, jwt: { secret: deviceJwtSecret, issuer: deviceJwtIssuer }, rateLimit: 100_000 },
      security: { rateLimits: { admin: { max: 100_000, window: '1m' } } },
    });
    checkOf = answerChecks((await api.call('GET', '/openapi.json', { bearer: null })).body);
  });
  afterAll(async () => {
    await api?.stop();
    await db?.drop();
  });

  /** One call, with what every answer of the API must be: JSON, no-store, below 500, refusals in the Error shape. */
  async function call(plan: Plan, path: string, options: Parameters<AdminApi['call']>[2] = {}): Promise<ApiAnswer> {
    const answer = await api.call(plan.op.method, path, options);
    const what = `${plan.op.method} ${path} (${plan.op.name}) answered ${answer.status} ${JSON.stringify(answer.body)}`;
    expect(answer.status, what).toBeLessThan(500);
    expect(answer.headers.get('content-type'), what).toMatch(/^application\/json/);
    expect(typeof answer.body, what).toBe('object');
    expect(answer.headers.get('cache-control'), what).toBe('no-store');
    if (answer.status >= 400) {
      expect(answer.body, what).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
    }
    // The OpenAPI document describes this answer.
    const check = checkOf(plan.op, answer.status);
    expect(check, `${what}: no documented answer`).toBeDefined();
    expect(check!(answer.body) ? [] : check!.errors, `${what}: not as documented`).toEqual([]);
    return answer;
  }

  it('answers a path or method no operation has with a JSON 404 or 405, with or without a bearer', async () => {
    const routes = new Set(operations.map((op) => `${op.method} ${op.path}`));
    const misses: Array<[string, string]> = [
      ['GET', '/no-such-route'],
      ['POST', '/no-such-route'],
      ['GET', '/users/x/y/z'],
    ];
    for (const method of ['PATCH', 'PUT', 'DELETE']) if (!routes.has(`${method} /users`)) misses.push([method, '/users']);
    for (const [method, path] of misses) {
      for (const bearer of [undefined, null]) {
        const answer = await api.call(method, path, bearer === null ? { bearer } : {});
        const what = `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`;
        expect([404, 405], what).toContain(answer.status);
        expect(answer.headers.get('content-type'), what).toMatch(/^application\/json/);
        expect(answer.body, what).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
      }
    }
  });

  it('sweeps every operation', () => {
    expect(plans.length).toBe(operations.length);
    expect(plans.length).toBeGreaterThan(0);
  });

  describe.each(plans.map((plan) => [`${plan.op.method} ${plan.op.path} (${plan.op.name})`, plan] as const))('%s', (_label, plan) => {
    const body = writes.has(plan.op.method) ? (plan.valid ?? {}) : undefined;
    const url = (query: Record<string, unknown> = {}) => (inQuery(plan.op) ? withQuery(plan.path, query) : plan.path);

    it('refuses a call without a bearer (401, WWW-Authenticate) or with a bogus one (401)', async () => {
      const none = await call(plan, url(plan.valid), { bearer: null, ...(body ? { body } : {}) });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const bogus = await call(plan, url(plan.valid), { bearer: 'ghk_sweep_not-a-key-at-all-0123456789abcdef', ...(body ? { body } : {}) });
      expect(bogus.status).toBe(401);
      expect(bogus.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect((await call(plan, url(plan.valid), { bearer: null, headers: { authorization: 'Basic c3dlZXA6c3dlZXA=' } })).status).toBe(401);
      // A stranger's body is not read: no bearer is a 401 even when the body is not JSON.
      if (writes.has(plan.op.method)) expect((await call(plan, plan.path, { bearer: null, body: '{"sweep":' })).status).toBe(401);
    });

    it.runIf(writes.has(plan.op.method))('refuses a malformed JSON body or one that is not an object with a 400', async () => {
      for (const malformed of ['{"sweep":', 'not json', '[1, 2]', '"a string"', 'null']) {
        const answer = await call(plan, plan.path, { body: malformed });
        expect(answer.status, `body ${malformed}`).toBe(400);
        expect(answer.body.error).toBe('input.invalid');
      }
    });

    it.runIf(writes.has(plan.op.method))(
      'refuses a body not sent as JSON it reads (a form, plain text, multipart, a +json type) with a 400 instead of ignoring it',
      async () => {
        for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/merge-patch+json', 'multipart/form-data; boundary=x']) {
          const answer = await call(plan, plan.path, { body: 'sweep=1', headers: { 'content-type': type } });
          expect(answer.status, `${type}: ${JSON.stringify(answer.body)}`).toBe(400);
        }
      },
    );

    it.runIf(plan.params.length > 0)('answers an unknown id in the path with a 404 (or a 400 when it cannot be an id)', async () => {
      const answer = await call(plan, url(plan.valid), body ? { body } : {});
      expect([400, 404], JSON.stringify(answer.body)).toContain(answer.status);
      // With a valid input the only thing wrong is the id.
      if (plan.valid) expect(answer.status, JSON.stringify(answer.body)).toBe(404);
    });

    it.runIf(Object.keys(plan.fields).length > 0)('answers a field of the wrong type with a 400 naming it', async () => {
      // A field that takes anything a client can send there has no wrong values.
      for (const [name, wrong] of Object.entries(plan.fields).flatMap(([name, schema]) =>
        wrongValues(schema, inQuery(plan.op)).map((v) => [name, v] as const),
      )) {
        const input = { ...(plan.valid ?? {}), [name]: wrong };
        const answer = await call(plan, url(input), writes.has(plan.op.method) ? { body: input } : {});
        const what = `${name} = ${JSON.stringify(wrong).slice(0, 60)}: ${JSON.stringify(answer.body)}`;
        expect(answer.status, what).toBe(400);
        expect(answer.body.error, what).toBe('input.invalid');
        if (plan.valid) expect(String(answer.body.field).split('.')[0], what).toBe(name);
        else expect(answer.body.field, what).toEqual(expect.any(String));
      }
    });

    it.runIf(writes.has(plan.op.method) && plan.required.length > 0)('answers an empty body with a 400 naming a required field', async () => {
      const answer = await call(plan, plan.path, { body: {} });
      expect(answer.status).toBe(400);
      expect(plan.required).toContain(String(answer.body.field).split('.')[0]);
    });

    it.runIf(plan.op.paginated === true)('refuses a bad limit or cursor with a 400 naming it', async () => {
      expect((await call(plan, url({ ...plan.valid, limit: '0' }))).body.field).toBe('limit');
      expect((await call(plan, url({ ...plan.valid, limit: '201' }))).body.field).toBe('limit');
      expect((await call(plan, url({ ...plan.valid, cursor: 'not-a-cursor' }))).body.field).toBe('cursor');
      const first = await call(plan, url({ ...plan.valid, limit: '200' }));
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ items: expect.any(Array), nextCursor: null });
    });

    it('answers a well-formed call below 500, with its own status when it succeeds', async () => {
      const answer = await call(plan, url(plan.valid), body ? { body } : {});
      if (answer.status < 300) expect(answer.status).toBe(plan.op.status ?? 200);
    });
  });

  describe('with real ids (what the calls above made, a registered client, join requests, and what the server starts with)', () => {
    beforeAll(async () => {
      const { gh } = api.server;
      const { token } = await gh.registrationTokens.create({ count: 1, expiresAt: Date.now() + 86_400_000 }, 'test');
      expect(registered(await register(api.server.url, serviceMetadata({ client_name: 'Swept Sensor' }), token)).client_id).toEqual(expect.any(String));
      for (const who of ['ann', 'bob']) {
        await gh.joinRequests.file({
          identity: { connectorId: 'local', subject: `sweep-${who}`, emailVerified: true },
          clientId: 'web',
          email: `${who}@example.com`,
          name: who,
          message: `please, ${who}`,
        });
      }
    });

    /** The ids (at most 4) the list beside `plan`'s path (`/users` for `/users/:id…`) holds, by the path's parameter. */
    async function realIds(plan: Plan): Promise<string[]> {
      const param = plan.params[0]!;
      const collection = plan.op.path.slice(0, plan.op.path.indexOf(`/:${param}`));
      const list = plans.find((p) => p.op.method === 'GET' && p.op.path === collection && p.params.length === 0);
      if (!list) return [];
      const answer = await call(list, withQuery(list.path, list.valid ?? {}));
      const items = (Array.isArray(answer.body) ? answer.body : (answer.body.items ?? [])) as Array<Record<string, unknown>>;
      return items
        .map((item) => item[param] ?? item.id ?? item.kid)
        .filter((id): id is string | number => typeof id === 'string' || typeof id === 'number')
        .map(String)
        .slice(0, 4);
    }
    const single = plans.filter((plan) => plan.params.length === 1);
    const at = (plan: Plan, id: string) => plan.op.path.replace(`:${plan.params[0]}`, encodeURIComponent(id));

    it('shows every listed thing by its id (200)', async () => {
      let shown = 0;
      for (const plan of single.filter((p) => p.op.method === 'GET')) {
        for (const id of await realIds(plan)) {
          const answer = await call(plan, withQuery(at(plan, id), plan.valid ?? {}));
          expect(answer.status, `${plan.op.name} ${id}: ${JSON.stringify(answer.body)}`).toBe(200);
          shown++;
        }
      }
      expect(shown).toBeGreaterThan(0);
    });

    it('answers every write on a real id below 500 (done, or refused in the Error shape)', async () => {
      for (const plan of single.filter((p) => p.op.method !== 'GET')) {
        for (const id of await realIds(plan)) {
          const path = at(plan, id);
          const answer = await call(
            plan,
            inQuery(plan.op) ? withQuery(path, plan.valid ?? {}) : path,
            writes.has(plan.op.method) ? { body: plan.valid ?? {} } : {},
          );
          if (answer.status < 300) expect(answer.status, plan.op.name).toBe(plan.op.status ?? 200);
        }
      }
    });
  });
});
