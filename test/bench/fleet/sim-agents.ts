// The simulated agents of an agent-pool fleet: `bin/sandfleet.js sim-agents` as a few child
// processes, each driving one shard of the machines (an async loop per machine, no process per
// task), stopped with SIGTERM, their progress lines passed to the run's log.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, childEnv, ROOT } from '../sandfleet-bin.js';

export interface Sidecar {
  /** Stops it; resolves with what each process printed last (the agents' counts). */
  stop(): Promise<string>;
  readonly pids: number[];
}

/** `log` gets each process's progress lines (every 10 s: counts and event-loop delay). */
export function startSimAgents(config: string, env: Record<string, string>, heartbeatMs: number, shards: number, log: (line: string) => void): Sidecar {
  const children = Array.from({ length: shards }, (_, i) => startShard(config, env, heartbeatMs, `${i}/${shards}`, log));
  return {
    pids: children.map((c) => c.child.pid ?? 0),
    async stop() {
      return (await Promise.all(children.map((c) => c.stop()))).join('\n');
    },
  };
}

function startShard(config: string, env: Record<string, string>, heartbeatMs: number, shard: string, log: (line: string) => void): { child: ChildProcess; stop: () => Promise<string> } {
  const args = [BIN, '--config', config, 'sim-agents', '--heartbeat-ms', String(heartbeatMs), '--shard', shard, '--json'];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => (stdout = (stdout + c.toString('utf8')).slice(-4096)));
  let partial = '';
  child.stderr?.on('data', (c: Buffer) => {
    const lines = (partial + c.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) log(`agents ${shard}: ${l.trim()}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
      return stdout.trim();
    },
  };
}
