/** The people's pages, in navigation order: one module each (see ../site.ts for what they are handed). */
import type { SiteSection } from '../site.ts';
import { appPages } from './apps.ts';
import { browsePages } from './browse.ts';
import { securityPages } from './security.ts';
import { passkeyPages } from './passkeys.ts';
import { reviewPages } from './review.ts';
import { reauthPages } from './reauth.ts';

/** `reauthPages` first: its routes stand in front of the Security and Passkeys pages that change how one signs in. */
export const sections: readonly SiteSection[] = [appPages, browsePages, reauthPages, securityPages, passkeyPages, reviewPages];

/** Navigation entries: section key, path, label. `review` is shown only to approvers and admins. */
export const navigation: readonly { section: string; path: string; label: string }[] = [
  { section: 'apps', path: '/account', label: 'My apps' },
  { section: 'browse', path: '/account/browse', label: 'Other apps' },
  { section: 'requests', path: '/account/requests', label: 'My requests' },
  { section: 'security', path: '/account/security', label: 'Security' },
  { section: 'review', path: '/review', label: 'For my review' },
];
