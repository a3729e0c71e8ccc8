/**
 * How commands answer: `--json` prints one JSON value; otherwise a short human
 * form (key: value lines, or an aligned table for lists).
 */
export interface Output {
  json: boolean;
  /** One record (a created, shown or changed thing). */
  record(value: Record<string, unknown>, note?: string): void;
  /** A list of records, as a table with the given columns. */
  table(rows: Record<string, unknown>[], columns: string[]): void;
  /** A sentence for people (not printed with --json). */
  say(text: string): void;
}

const show = (v: unknown): string =>
  v === null || v === undefined ? '-' : Array.isArray(v) ? v.map(show).join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v);

export function createOutput(json: boolean, write: (s: string) => void = (s) => process.stdout.write(s)): Output {
  return {
    json,
    record(value, note) {
      if (json) return write(`${JSON.stringify(value, null, 2)}\n`);
      const width = Math.max(...Object.keys(value).map((k) => k.length));
      write(
        Object.entries(value)
          .map(([k, v]) => `${k.padEnd(width)}  ${show(v)}`)
          .join('\n') + '\n',
      );
      if (note) write(`\n${note}\n`);
    },
    table(rows, columns) {
      if (json) return write(`${JSON.stringify(rows, null, 2)}\n`);
      if (rows.length === 0) return write('(none)\n');
      const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => show(r[c]).length)));
      const line = (cells: string[]) =>
        cells
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd();
      write(`${line(columns.map((c) => c.toUpperCase()))}\n${rows.map((r) => line(columns.map((c) => show(r[c])))).join('\n')}\n`);
    },
    say(text) {
      if (!json) write(`${text}\n`);
    },
  };
}

/** Epoch milliseconds as an ISO string, or null. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
