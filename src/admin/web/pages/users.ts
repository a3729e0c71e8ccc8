/** The console's users section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const userPages: ConsoleSection = () => {};
