/** Admin operations on audit (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const auditOps: AnyOperation[] = [];
