/** Admin operations on client-tokens (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const clientTokenOps: AnyOperation[] = [];
