/**
 * Tallying answers that are not all successes (device polling is all 400s,
 * enrollments may be refused): each answer named by its status and, for a
 * refusal, its OAuth `error`, e.g. "400 authorization_pending".
 */

/** An answer's name for the tally: its status, and its OAuth `error` when it is not a success. */
export function answerKind(status: number, body: string): string {
  if (status < 300) return String(status);
  try {
    const json: unknown = JSON.parse(body);
    if (typeof json === 'object' && json !== null && 'error' in json && typeof json.error === 'string') return `${status} ${json.error}`;
  } catch {
    // not JSON: the status alone
  }
  return String(status);
}

export interface AnswerTally {
  /** Answers by name (see `answerKind`). */
  answers: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
}

export const emptyTally = (): AnswerTally => ({ answers: {}, errors: 0 });

export function addAnswers(tally: AnswerTally, kinds: Record<string, number>, errors: number): void {
  for (const [kind, n] of Object.entries(kinds)) tally.answers[kind] = (tally.answers[kind] ?? 0) + n;
  tally.errors += errors;
}
