// One daemon under test: `bin/sandfleet.js --config <file> daemon` as a child process on its own
// API port, ready when /readyz answers 200. Its log (pino JSON on stdout) is read as it comes,
// so the pipe never fills; error lines are counted for the report and the tail kept for failures.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../support/ports.js';
import { BIN, childEnv, ROOT } from '../sandfleet-bin.js';

function daemonNodeOptions(): Record<string, string> {
  const options = process.env.FLEET_DAEMON_NODE_OPTIONS;
  return options ? { NODE_OPTIONS: options } : {};
}

export class FleetDaemon {
  /** Log lines at level error or above (pino: ≥ 50), the first few kept. */
  readonly errors: string[] = [];
  errorCount = 0;
  /** Log lines by message: what a daemon that died or slowed was busy saying. */
  private readonly messages = new Map<string, number>();
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.hear(line);
    });
    child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk.toString('utf8')));
  }

  static async start(config: string, env: Record<string, string>, timeoutMs: number): Promise<FleetDaemon> {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, '--config', config, 'daemon'], {
      cwd: ROOT,
      // FLEET_DAEMON_NODE_OPTIONS profiles the daemons alone (say --heapsnapshot-near-heap-limit=1), not the harness.
      env: childEnv({ ...env, SANDFLEET_PORT: String(port), ...daemonNodeOptions() }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon = new FleetDaemon(child, port);
    await daemon.untilReady(timeoutMs);
    return daemon;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  tail(chars = 2000): string {
    return this.output.slice(-chars);
  }

  /** Its most frequent log messages so far, one per line with their counts. */
  topMessages(n = 8): string {
    return [...this.messages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([msg, count]) => `${count.toLocaleString('en-US')} × ${msg}`)
      .join('\n');
  }

  /**
   * SIGKILL: the run is over and its database goes with the cluster, so there is nothing for a
   * graceful drain (which waits shutdown_grace_s for running tasks) to hand back.
   */
  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** Synchronous, for a Ctrl-C handler. */
  killNow(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  private hear(line: string): void {
    this.keep(`${line}\n`);
    if (!line.startsWith('{')) return;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      const msg = entry.msg ?? '';
      this.messages.set(msg, (this.messages.get(msg) ?? 0) + 1);
      if ((entry.level ?? 0) >= 50) {
        this.errorCount++;
        if (this.errors.length < 5) this.errors.push(line.slice(0, 400));
      }
    } catch {
      // not a log line
    }
  }

  private keep(text: string): void {
    this.output = (this.output + text).slice(-20_000);
  }

  private async untilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`the daemon on :${this.port} exited before it was ready:\n${this.tail()}`);
      try {
        const response = await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    this.killNow();
    throw new Error(`the daemon on :${this.port} was not ready within ${timeoutMs / 1000} s:\n${this.tail()}`);
  }
}
