/** The console's keys section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const keyPages: ConsoleSection = () => {};
