/** Admin operations on acl-tokens (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const aclTokenOps: AnyOperation[] = [];
