/**
 * An admin operation: one thing an admin can do (list users, revoke an
 * invitation…), described once and used by every admin surface. The admin API
 * routes it (`method` + `path` under `/admin/api`), the OpenAPI document is
 * generated from its schemas, the CLI's commands and the console's pages call
 * its `run`. `run` calls domain services, never repositories (STYLE.md 2).
 *
 * `input` is one zod object: the fields named in `path` (`/users/:id`) come
 * from the path, the others from the query string (GET, DELETE) or the JSON
 * body (POST, PUT, PATCH). `output` is what `run` returns, and what the CLI's
 * `--json` prints. A `paginated` operation returns the whole ordered list;
 * the API serves it in pages (`limit`, `cursor`) as `{ items, nextCursor }`.
 */
import type { z } from 'zod';
import type { Gatehouse } from '../context.ts';
import { GatehouseError } from '../errors.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface OperationContext {
  gh: Gatehouse;
  /** Who acts, as the audit log names them: `admin:<email>`, `key:<id>` or `cli:<user>`. */
  actor: string;
}

export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  /** `noun.verb`, also the OpenAPI operationId. */
  name: string;
  method: HttpMethod;
  /** Koa-style path below `/admin/api`, e.g. `/users/:id`. */
  path: string;
  summary: string;
  /** The OpenAPI tag (a heading in the document): users, invitations… */
  tag: string;
  input: I;
  output: O;
  /** 201 for operations that create something (default 200). */
  status?: 200 | 201;
  paginated?: boolean;
  run(ctx: OperationContext, input: z.output<I>): Promise<z.input<O>>;
}

/** Declares an operation with its types inferred from the schemas. */
export function operation<I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>): Operation<I, O> {
  return op;
}

/** Any operation, as the registry holds them. */
export type AnyOperation = Operation<z.ZodObject, z.ZodType>;

/** The names of the path parameters in an operation's path (`/users/:id` → `['id']`). */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

/** A zod failure as one `input.invalid` naming the first field at fault (`details.field`). */
export function invalidInput(error: z.ZodError): GatehouseError {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join('.');
  return new GatehouseError('input.invalid', field ? `${field}: ${issue.message}` : issue.message, field ? { field } : undefined);
}

/**
 * Runs `op` on raw input, as every surface does: the input is checked (a bad
 * one is an `input.invalid` naming the field), and so is the answer, which
 * leaves in the output schema's shape (unknown keys dropped). An answer that
 * does not fit is our bug: a plain Error, never sent.
 */
export async function invoke<I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>, ctx: OperationContext, raw: unknown): Promise<z.output<O>> {
  const parsed = op.input.safeParse(raw);
  if (!parsed.success) throw invalidInput(parsed.error);
  const result = await op.run(ctx, parsed.data);
  const checked = op.output.safeParse(result);
  if (!checked.success) {
    ctx.gh.logger.error({ operation: op.name, issues: checked.error.issues }, 'an admin operation answered outside its schema');
    throw new Error(`the answer of ${op.name} does not match its schema`);
  }
  return checked.data;
}
