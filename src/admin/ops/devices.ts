/** Admin operations on devices (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const deviceOps: AnyOperation[] = [];
