// A short chaos run in CI: one round of three scenarios on the PostgreSQL backend, through the
// same entry point as `npm run chaos` (the long runs are `npm run chaos -- --rounds 50`).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('chaos (short)', () => {
  it('ends with no violation, lost, stuck or leaked task after a kill, a PostgreSQL restart and a network fault', async () => {
    const args = ['--import', 'tsx', 'test/chaos/run.ts', '--rounds', '1', '--scenario', 'kill-one-of-three,pg-restart,network', '--backend', 'postgres', '--seed', String(Date.now() % 1000)];
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('close', (c) => resolve({ code: c, output }));
    });
    expect(code, output).toBe(0);
    const rows = output.split('\n').filter((l) => /^(kill-one-of-three|pg-restart|network)\s+postgres\s/.test(l));
    expect(rows, output).toHaveLength(3);
    for (const row of rows) {
      const [, , rounds, tasks, violations, lost, stuck, leaked] = row.trim().split(/\s+/).map((c, i) => (i < 2 ? c : Number(c)));
      expect(rounds).toBe(1);
      expect(tasks).toBeGreaterThan(0);
      expect([violations, lost, stuck, leaked]).toEqual([0, 0, 0, 0]);
    }
  }, 600_000);
});
