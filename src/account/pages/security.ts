/** The people's pages: security (not built yet: its routes come with its page). */
import type { SiteSection } from '../site.ts';

export const securityPages: SiteSection = () => {};
