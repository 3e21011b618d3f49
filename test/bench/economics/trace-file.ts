// Reads a workload trace from CSV: header `arrival_s,duration_s`, then one task per line (seconds
// since the trace's start; how long the task ran). A line that breaks that shape is refused with
// an error naming the file, the line and the column, and nothing of the file is used.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface WorkloadTask {
  /** Arrival, seconds from the trace's start. */
  at: number;
  /** How long the task runs, seconds. */
  runS: number;
}

export interface Workload {
  /** The file's base name without extension (`synthetic` and `batches` for the built-in traces). */
  name: string;
  tasks: WorkloadTask[];
  /** From the start to the last arrival, hours. */
  hours: number;
}

const HEADER = ['arrival_s', 'duration_s'];

export class TraceFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    problem: string,
  ) {
    // Line 0: the file as a whole (it could not be read).
    super(line > 0 ? `${file}:${line}:${column}: ${problem}` : `${file}: ${problem}`);
    this.name = 'TraceFileError';
  }
}

export async function readTraceFile(file: string): Promise<Workload> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TraceFileError(file, 0, 0, `cannot read the trace (${(error as NodeJS.ErrnoException).code ?? String(error)}): give the path of a CSV file with header arrival_s,duration_s`);
  }
  return parseTrace(text, file);
}

export function parseTrace(text: string, file: string): Workload {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const header = (lines[0] ?? '').split(',').map((f) => f.trim());
  if (header.length !== HEADER.length || header.some((f, k) => f !== HEADER[k])) {
    throw new TraceFileError(file, 1, 1, `the header must be "${HEADER.join(',')}", found "${lines[0] ?? ''}"`);
  }
  const tasks: WorkloadTask[] = [];
  for (let n = 1; n < lines.length; n++) {
    const task = parseLine(lines[n]!, n + 1, file);
    const previous = tasks.at(-1);
    if (previous && task.at < previous.at) throw new TraceFileError(file, n + 1, 1, `arrival ${task.at} is before the previous line's ${previous.at}: arrivals must be in order`);
    tasks.push(task);
  }
  if (tasks.length === 0) throw new TraceFileError(file, 2, 1, 'the trace holds no task');
  return { name: path.basename(file).replace(/\.[^.]*$/, ''), tasks, hours: tasks.at(-1)!.at / 3600 };
}

function parseLine(line: string, number: number, file: string): WorkloadTask {
  const fields = line.split(',');
  if (fields.length !== HEADER.length) throw new TraceFileError(file, number, 1, `expected ${HEADER.length} fields (${HEADER.join(',')}), found ${fields.length}`);
  const values: number[] = [];
  let column = 1;
  fields.forEach((field, k) => {
    const value = field.trim() === '' ? Number.NaN : Number(field);
    if (!Number.isFinite(value)) throw new TraceFileError(file, number, column, `${HEADER[k]} "${field}" is not a number`);
    if (value < 0) throw new TraceFileError(file, number, column, `${HEADER[k]} ${value} is negative`);
    values.push(value);
    column += field.length + 1;
  });
  return { at: values[0]!, runS: values[1]! };
}
