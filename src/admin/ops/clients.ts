/** Admin operations on clients (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const clientOps: AnyOperation[] = [];
