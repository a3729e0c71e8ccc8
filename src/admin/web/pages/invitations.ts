/** The console's invitations section (not built yet: its routes come with its page). */
import type { ConsoleSection } from '../console.ts';

export const invitationPages: ConsoleSection = () => {};
