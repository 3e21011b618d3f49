// The command runner: spawns the pool's command for each task, with the machine's address and
// the task (as JSON) in an environment of its own (runners/environment.ts: an allowlist, never
// the daemon's credentials). Exit 0 completes the task with the last stdout line,
// parsed as JSON, as its result; anything else fails it with the end of stderr. The command is
// terminated (then killed) when the task times out, is canceled or its lease is lost. A daemon
// shutting down does not abort it: runs get the shutdown grace, then are left to the next owner.
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { commandEnvironment, passthroughRefusal } from './environment.js';
import { abortedVerdict, type RunContext, type Runner, type RunVerdict } from './types.js';

/** A variable a pool may pass through to its command, refused with the reason when it may not. */
export const passthroughName = z.string().superRefine((name, ctx) => {
  const refusal = passthroughRefusal(name);
  if (refusal) ctx.addIssue({ code: 'custom', message: refusal });
});

export const commandRunnerSettings = z
  .object({
    command: z.string().min(1, 'runner.command is required'),
    args: z.array(z.string()).default([]),
    /** Time between SIGTERM and SIGKILL. */
    killGraceMs: z.number().int().min(0).max(60_000).default(5000),
    /** Variables of the daemon's environment the command gets besides PATH, HOME and LANG; never a credential. */
    envPassthrough: z.array(passthroughName).default([]),
  })
  .strict();

const OUTPUT_LIMIT = 64 * 1024;

export class CommandRunner implements Runner {
  private readonly settings: z.infer<typeof commandRunnerSettings>;

  constructor(settings: unknown) {
    this.settings = commandRunnerSettings.parse(settings);
  }

  run({ task, machine, signal }: RunContext): Promise<RunVerdict> {
    const { command, args, killGraceMs, envPassthrough } = this.settings;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(abortedVerdict(signal));
      const child = spawn(command, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: commandEnvironment(process.env, envPassthrough, {
          SANDFLEET_TASK_ID: task.id,
          SANDFLEET_TASK: JSON.stringify({ id: task.id, pool: task.pool, payload: task.payload, attempt: task.attempts, timeout_s: task.timeoutS }),
          SANDFLEET_MACHINE_ID: machine.id,
          SANDFLEET_MACHINE_NAME: machine.name,
          SANDFLEET_MACHINE_IP: machine.ip ?? '',
        }),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString('utf8')).slice(-OUTPUT_LIMIT)));
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-OUTPUT_LIMIT)));
      let killer: NodeJS.Timeout | undefined;
      const stop = () => {
        child.kill('SIGTERM');
        killer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
      };
      signal.addEventListener('abort', stop, { once: true });
      child.on('error', (error) => {
        signal.removeEventListener('abort', stop);
        resolve({ outcome: 'failed', error: `could not start ${command}: ${error.message}` });
      });
      child.on('close', (code, killedBy) => {
        signal.removeEventListener('abort', stop);
        clearTimeout(killer);
        if (signal.aborted) return resolve(abortedVerdict(signal));
        if (code !== 0) return resolve({ outcome: 'failed', error: `${command} exited with ${code ?? killedBy}: ${tail(stderr)}` });
        resolve(parseResult(stdout));
      });
    });
  }
}

function parseResult(stdout: string): RunVerdict {
  const last = stdout.trimEnd().split('\n').pop()?.trim() ?? '';
  if (!last) return { outcome: 'completed', result: null };
  try {
    return { outcome: 'completed', result: JSON.parse(last) as unknown };
  } catch {
    return { outcome: 'failed', error: `the last line of output is not JSON: ${last.slice(0, 200)}` };
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join('\n').slice(-1000);
}
