/**
 * Every admin operation, in the order the OpenAPI document lists them. One
 * file per noun; a new operation added to its noun's list is routed by the
 * API, documented in `/admin/api/openapi.json` and tested by the route sweep
 * (test/admin/api-sweep.test.ts) without being named anywhere else.
 */
import type { AnyOperation } from '../operation.ts';
import { userOps } from './users.ts';

export const operations: readonly AnyOperation[] = [...userOps];
