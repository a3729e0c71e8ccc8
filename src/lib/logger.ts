/** Structured JSON logs (pino) to stdout; `silent` in tests unless asked. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'gatehouse' }, timestamp: pino.stdTimeFunctions.isoTime });
}
