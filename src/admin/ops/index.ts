/**
 * Every admin operation, in the order the OpenAPI document lists them. One
 * file per noun; a new operation added to its noun's list is routed by the
 * API and documented in `/admin/api/openapi.json` without being named
 * anywhere else.
 */
import type { AnyOperation } from '../operation.ts';
import { aclTokenOps } from './acl-tokens.ts';
import { auditOps } from './audit.ts';
import { clientOps } from './clients.ts';
import { clientTokenOps } from './client-tokens.ts';
import { dashboardOps } from './dashboard.ts';
import { deviceOps } from './devices.ts';
import { deviceTokenOps } from './device-tokens.ts';
import { joinRequestOps } from './join-requests.ts';
import { keyOps } from './keys.ts';
import { registrationTokenOps } from './registration-tokens.ts';
import { userOps } from './users.ts';

export const operations: readonly AnyOperation[] = [
  ...dashboardOps,
  ...userOps,
  ...joinRequestOps,
  ...aclTokenOps,
  ...clientTokenOps,
  ...clientOps,
  ...registrationTokenOps,
  ...deviceTokenOps,
  ...deviceOps,
  ...keyOps,
  ...auditOps,
];
