// How the CLI prints: aligned tables for people, one JSON document for scripts (--json).
export interface OutputOptions {
  json?: boolean;
}

let printedJson = false;

export function printJson(value: unknown): void {
  printedJson = true;
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Whether this process already printed its JSON document (a failure after it adds none). */
export function jsonPrinted(): boolean {
  return printedJson;
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function printTable(rows: Record<string, unknown>[], columns: string[], empty = '(none)'): void {
  process.stdout.write(`${rows.length ? table(rows, columns) : empty}\n`);
}

/** Prints for people or for scripts, whichever was asked. */
export function emit(options: OutputOptions, value: unknown, human: () => void): void {
  if (options.json) printJson(value);
  else human();
}
