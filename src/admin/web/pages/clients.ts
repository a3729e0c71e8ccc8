/** The console's clients section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const clientPages: ConsoleSection = () => {};
