// The simulated agents of an agent-pool fleet: `bin/sandfleet.js sim-agents` as one child process
// for every machine (an async loop per machine, no process per task), stopped with SIGTERM,
// whose final counts (--json) the report keeps.
import { spawn } from 'node:child_process';
import { BIN, childEnv, ROOT } from '../sandfleet-bin.js';

export interface Sidecar {
  /** Stops it; resolves with what it printed last (the agents' counts). */
  stop(): Promise<string>;
  readonly pid: number;
}

export function startSimAgents(config: string, env: Record<string, string>, heartbeatMs: number): Sidecar {
  const child = spawn(process.execPath, [BIN, '--config', config, 'sim-agents', '--heartbeat-ms', String(heartbeatMs), '--json'], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => (stdout = (stdout + c.toString('utf8')).slice(-4096)));
  child.stderr?.on('data', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
      return stdout.trim();
    },
  };
}
