// `sandfleet demo`, spawned as a user runs it: an in-process daemon on the example config, a batch
// of tasks, live progress, and a summary in which every task ended.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase } from '../../src/db/index.js';
import { runCli } from './process.js';

const name = `sf_test_demo_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
afterAll(() => dropDatabase(url.toString(), name), 30_000);
const env = { DATABASE_URL: url.toString(), SANDFLEET_CONFIG: '' };

describe('sandfleet demo', () => {
  it('--json: every submitted task ends, and the summary counts them', async () => {
    const ran = await runCli(['demo', '--tasks', '4', '--json'], env);
    expect(ran.code, ran.stderr).toBe(0);
    const summary = JSON.parse(ran.stdout) as { tasks: number; states: Record<string, number>; seconds: number };
    expect(summary.tasks).toBe(4);
    const ended = ['completed', 'failed', 'timed_out', 'canceled'].reduce((n, s) => n + (summary.states[s] ?? 0), 0);
    expect(ended).toBe(4);
    expect(summary.states.completed).toBe(4);
    expect(summary.seconds).toBeGreaterThan(0);
  }, 120_000);

  it('for people: shows the pools moving and ends with a summary line', async () => {
    const ran = await runCli(['demo', '--tasks', '2'], env);
    expect(ran.code, ran.stderr).toBe(0);
    // Progress frames: each has the task states and a table of both example pools.
    const frames = ran.stdout.split(/\n(?=\[\d+\.\ds\] tasks )/).filter((f) => f.includes(' tasks {'));
    expect(frames.length).toBeGreaterThan(1);
    for (const pool of ['linux-sandbox', 'windows-reimage']) expect(frames[0]).toContain(pool);
    expect(ran.stdout).toMatch(/done: 2 tasks in \d+\.\ds: \{"completed":2\}/);
  }, 120_000);

  it('refuses a bad --tasks with exit 2 and says why', async () => {
    const ran = await runCli(['demo', '--tasks', 'many'], env);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/--tasks/);
  });
});
