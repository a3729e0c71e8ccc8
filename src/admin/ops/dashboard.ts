/** Admin operations on dashboard (not written yet). */
import type { AnyOperation } from '../operation.ts';

export const dashboardOps: AnyOperation[] = [];
