/** The console's device-tokens section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const deviceTokenPages: ConsoleSection = () => {};
