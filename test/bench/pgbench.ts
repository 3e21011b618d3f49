// The database's own ceiling for what sandfleet does most: a single-row UPDATE by primary key.
// pgbench runs against a throwaway database, initialised at scale 1 (100,000 accounts).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withBenchDatabase } from './database.js';

const run = promisify(execFile);
const PGBENCH = process.env.PGBENCH ?? 'pgbench';

const SCRIPT = `\\set aid random(1, 100000)
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;
`;

export interface PgbenchResult {
  /** Transactions per second with 8 clients on 2 threads. */
  tps: number;
  /** Average latency of one UPDATE from a single client, in milliseconds. */
  latencyMs: number;
  version: string;
}

export async function runPgbench(seconds: number): Promise<PgbenchResult> {
  const version = (await run(PGBENCH, ['--version'])).stdout.trim();
  const dir = await mkdtemp(path.join(tmpdir(), 'sf-bench-'));
  try {
    const script = path.join(dir, 'update.sql');
    await writeFile(script, SCRIPT);
    return await withBenchDatabase('pgbench', { schema: false, max: 1 }, async ({ url }) => {
      await run(PGBENCH, ['-i', '-s', '1', '-q', url]);
      const parallel = await run(PGBENCH, ['-n', '-c', '8', '-j', '2', '-T', String(seconds), '-f', script, url]);
      // One client: the latency of a lone UPDATE, the floor under any single-task latency.
      const single = await run(PGBENCH, ['-n', '-c', '1', '-j', '1', '-T', String(Math.max(1, Math.ceil(seconds / 2))), '-f', script, url]);
      return { tps: parse(parallel.stdout, /^tps = ([\d.]+)/m, 'tps'), latencyMs: parse(single.stdout, /^latency average = ([\d.]+) ms/m, 'latency'), version };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parse(output: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(output);
  if (!match?.[1]) throw new Error(`pgbench printed no ${what}:\n${output}`);
  return Number(match[1]);
}
