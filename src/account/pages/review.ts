/** The people's pages: review (not built yet: its routes come with its page). */
import type { SiteSection } from '../site.ts';

export const reviewPages: SiteSection = () => {};
