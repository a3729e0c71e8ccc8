/** The people's pages: apps (not built yet: its routes come with its page). */
import type { SiteSection } from '../site.ts';

export const appPages: SiteSection = () => {};
