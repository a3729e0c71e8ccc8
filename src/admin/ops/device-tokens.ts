/** Admin operations on device-tokens (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const deviceTokenOps: AnyOperation[] = [];
