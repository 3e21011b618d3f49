// The runners, with real child processes for the command runner.
import { describe, expect, it } from 'vitest';
import type { MachineRow, TaskRow } from '../../src/db/index.js';
import { CommandRunner } from '../../src/scheduler/runners/command-runner.js';
import { SimRunner } from '../../src/scheduler/runners/sim-runner.js';
import { TaskTimeout, type RunContext } from '../../src/scheduler/runners/types.js';

const task = (payload: Record<string, unknown> = {}) => ({ id: 'task-1', pool: 'p', payload, attempts: 1, timeoutS: 5 }) as unknown as TaskRow;
const machine = { id: 'machine-1', name: 'sf-p-1', ip: '10.9.8.7' } as unknown as MachineRow;
const context = (signal = new AbortController().signal, payload?: Record<string, unknown>): RunContext => ({ task: task(payload), machine, signal });
const node = (script: string) => new CommandRunner({ command: process.execPath, args: ['-e', script], killGraceMs: 200 });

describe('sim runner', () => {
  it('takes the duration and failure rate from the payload', async () => {
    expect(await new SimRunner().run(context(undefined, { sim: { durationMs: 1 } }))).toMatchObject({ outcome: 'completed', result: { durationMs: 1 } });
    expect(await new SimRunner().run(context(undefined, { sim: { durationMs: 1, failRate: 1 } }))).toMatchObject({ outcome: 'failed' });
  });

  it('stops when the task times out', async () => {
    const controller = new AbortController();
    const running = new SimRunner({ minDurationMs: 60_000, maxDurationMs: 60_000 }).run(context(controller.signal));
    controller.abort(new TaskTimeout(5));
    expect(await running).toEqual({ outcome: 'timed_out', error: 'task ran past its timeout of 5s' });
  });
});

describe('command runner', () => {
  it('passes the machine and task in the environment and takes the last stdout line as the result', async () => {
    const verdict = await node(`
      const t = JSON.parse(process.env.SANDFLEET_TASK);
      console.log('progress: analysing');
      console.log(JSON.stringify({ ip: process.env.SANDFLEET_MACHINE_IP, id: t.id, sample: t.payload.sample }));
    `).run(context(undefined, { sample: 'evil.exe' }));
    expect(verdict).toEqual({ outcome: 'completed', result: { ip: '10.9.8.7', id: 'task-1', sample: 'evil.exe' } });
  });

  it('fails the task with the end of stderr on a non-zero exit, and on output that is not JSON', async () => {
    expect(await node(`console.error('sample is corrupt'); process.exit(3)`).run(context())).toEqual({ outcome: 'failed', error: expect.stringMatching(/exited with 3: sample is corrupt/) });
    expect(await node(`console.log('done!')`).run(context())).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/not JSON: done!/) });
  });

  it('kills a command that ignores SIGTERM when the task times out', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const running = node(`process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`).run(context(controller.signal));
    setTimeout(() => controller.abort(new TaskTimeout(5)), 100);
    expect(await running).toMatchObject({ outcome: 'timed_out' });
    // Terminated at 100 ms, killed after the 200 ms grace: well before the command would end.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives the command PATH, HOME, LANG, what its pool passes through and its own variables: never a credential of the daemon', async () => {
    const canary = { DATABASE_URL: 'postgres://sf:' + 'CanaryDbPass1' + '@db/sf', AWS_SECRET_ACCESS_KEY: 'CanaryAwsSecret1', GITHUB_TOKEN: 'CanaryGithub1', LC_CANARY: 'fine', NOT_PASSED: 'x' };
    const saved = { ...process.env };
    Object.assign(process.env, canary);
    try {
      const runner = new CommandRunner({ command: process.execPath, args: ['-e', 'console.log(JSON.stringify(process.env))'], envPassthrough: ['LC_CANARY'] });
      const verdict = await runner.run(context());
      expect(verdict.outcome).toBe('completed');
      const env = (verdict as { result: Record<string, string> }).result;
      const expected = ['PATH', 'HOME', 'LANG'].filter((name) => process.env[name] !== undefined);
      expect(Object.keys(env).sort()).toEqual([...expected, 'LC_CANARY', 'SANDFLEET_MACHINE_ID', 'SANDFLEET_MACHINE_IP', 'SANDFLEET_MACHINE_NAME', 'SANDFLEET_TASK', 'SANDFLEET_TASK_ID'].sort());
      expect(env.LC_CANARY).toBe('fine');
    } finally {
      for (const name of Object.keys(canary)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('refuses to pass through a credential, a SANDFLEET_* variable or a name that is none', () => {
    for (const name of ['DATABASE_URL', 'AZURE_CLIENT_SECRET', 'ADMIN_PASSWORD', 'STRIPE_API_KEY', 'SANDFLEET_TASK', '1BAD']) {
      expect(() => new CommandRunner({ command: '/bin/true', envPassthrough: [name] }), name).toThrow(name);
    }
    expect(() => new CommandRunner({ command: '/bin/true', envPassthrough: ['LC_ALL', 'TZ', 'MONKEY'] })).not.toThrow();
  });

  it('reports a command that cannot start', async () => {
    const verdict = await new CommandRunner({ command: '/nonexistent/analyse' }).run(context());
    expect(verdict).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/could not start \/nonexistent\/analyse/) });
  });
});
