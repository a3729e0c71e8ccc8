/** Admin operations on join-requests (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const joinRequestOps: AnyOperation[] = [];
