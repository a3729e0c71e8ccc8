/**
 * The console's sections, in navigation order: one module each, adding its
 * routes below `/admin` (see ../console.ts for what they are handed).
 */
import type { ConsoleSection } from '../console.ts';
import { dashboardPages } from './dashboard.ts';
import { requestPages } from './requests.ts';
import { invitationPages } from './invitations.ts';
import { userPages } from './users.ts';
import { clientPages } from './clients.ts';
import { registrationTokenPages } from './registration-tokens.ts';
import { deviceTokenPages } from './device-tokens.ts';
import { devicePages } from './devices.ts';
import { auditPages } from './audit.ts';
import { keyPages } from './keys.ts';

export const sections: readonly ConsoleSection[] = [
  dashboardPages,
  requestPages,
  invitationPages,
  userPages,
  clientPages,
  registrationTokenPages,
  deviceTokenPages,
  devicePages,
  auditPages,
  keyPages,
];

/** Navigation entries: section key, path below /admin, label. */
export const navigation: readonly { section: string; path: string; label: string }[] = [
  { section: 'dashboard', path: '', label: 'Dashboard' },
  { section: 'requests', path: '/requests', label: 'Requests' },
  { section: 'invitations', path: '/invitations', label: 'Invitations' },
  { section: 'users', path: '/users', label: 'Users' },
  { section: 'clients', path: '/clients', label: 'Clients' },
  { section: 'registration-tokens', path: '/registration-tokens', label: 'Registration tokens' },
  { section: 'device-tokens', path: '/device-tokens', label: 'Device tokens' },
  { section: 'devices', path: '/devices', label: 'Devices' },
  { section: 'audit', path: '/audit', label: 'Audit log' },
  { section: 'keys', path: '/keys', label: 'Keys' },
];
