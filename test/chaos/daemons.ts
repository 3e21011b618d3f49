// The daemons under test, as real processes of `sandfleet daemon`, each on its own API port,
// with short reconcile and takeover intervals so a round settles in seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../support/ports.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface PoolSpec {
  name: string;
  provider: 'sim' | 'aws' | 'azure';
  settings: Record<string, unknown>;
  max_uses: number | null;
  recycle: 'delete' | 'reimage';
}

export const TIMING = { reconcile_every_s: 1, stuck_after_s: 5, lease_grace_s: 5, job_lock_s: 5, orphan_grace_s: 5, deadline_grace_s: 10 };

export function writeConfig(file: string, options: { backend: 'postgres' | 'redis'; pools: PoolSpec[] }): void {
  const config = {
    cluster: 'chaos',
    database: { pool_size: 12 },
    queue: { backend: options.backend, prefix: 'chaos' },
    log: { level: 'warn' },
    // The harness's EC2 and ARM emulators meter nothing (the scenarios inject their own
    // throttling), so sandfleet's RunInstances and ARM read budgets are raised above the
    // documented 2/s and 25/s (ARM polls of long-running operations are reads) to keep rounds short.
    scheduler: {
      run_concurrency: 16,
      machine_concurrency: 8,
      shutdown_grace_s: 2,
      supervise_every_ms: 250,
      rate_limits: { aws: { RunInstances: { per_second: 20, burst: 40 } }, azure: { reads: { per_second: 200, burst: 400 } } },
      ...TIMING,
    },
    pools: options.pools.map((p) => ({
      name: p.name,
      provider: p.provider,
      min_ready: 1,
      max_size: 6,
      max_uses: p.max_uses,
      idle_timeout_s: 5,
      recycle: p.recycle,
      settings: p.settings,
      runner: { kind: 'sim', min_duration_ms: 50, max_duration_ms: 600 },
      readiness: { boot_timeout_s: 60 },
    })),
  };
  writeFileSync(file, stringify(config));
}

export class DaemonProcess {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  static async start(config: string, env: Record<string, string>): Promise<DaemonProcess> {
    const daemon = new DaemonProcess(await freePort(), ['bin/sandfleet.js', '--config', config, 'daemon'], env);
    await daemon.spawn();
    return daemon;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The end of its output, for a failure report. */
  tail(): string {
    return this.output.slice(-3000);
  }

  /** Signals the daemon and waits for it to exit; after `timeoutMs` it is SIGKILLed. Answers whether it exited in time. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 60_000): Promise<boolean> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!inTime) {
      child.kill('SIGKILL');
      await exited;
    }
    return inTime;
  }

  /** Started again on the same port, as a supervisor (systemd, Kubernetes) would. */
  async respawn(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  private async spawn(): Promise<void> {
    this.output = '';
    const child = spawn(process.execPath, this.args, { cwd: ROOT, env: { ...process.env, ...this.env, SANDFLEET_PORT: String(this.port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-20_000)));
    child.stderr.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-20_000)));
    this.child = child;
    await this.waitReady(90_000);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`daemon on :${this.port} exited:\n${this.tail()}`);
      try {
        if ((await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`daemon on :${this.port} not ready after ${timeoutMs} ms:\n${this.tail()}`);
  }
}
