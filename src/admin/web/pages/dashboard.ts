/** The console's dashboard section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const dashboardPages: ConsoleSection = () => {};
