/** Admin operations on registration-tokens (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const registrationTokenOps: AnyOperation[] = [];
