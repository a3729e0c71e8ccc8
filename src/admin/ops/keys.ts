/** Admin operations on keys (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const keyOps: AnyOperation[] = [];
