/** The people's pages: browse (not built yet: its routes come with its page). */
import type { SiteSection } from '../site.ts';

export const browsePages: SiteSection = () => {};
