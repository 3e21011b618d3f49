// Runs the real daemon (`bin/sandfleet.js daemon`, on the compiled bundle) as a child process on a given
// config and database, waits until it says it is ready, lets it supervise for a while and reads
// its resident set size from /proc, as an operator's `ps` would.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { percentile } from './figures.js';
import { ROOT, sandfleetArgs, type Runtime } from './sandfleet-bin.js';

const READY_TIMEOUT_MS = 120_000;
const SAMPLE_EVERY_MS = 500;

export interface DaemonMemory {
  /** VmRSS, the median of the samples of the window's second half (GC makes single samples jumpy). */
  rssMiB: number;
  /** VmHWM: the largest RSS the process ever had. */
  peakMiB: number;
  /** From spawn to the daemon's `ready` log line. */
  startMs: number;
}

export async function daemonMemory(configFile: string, databaseUrl: string, seconds: number, runtime: Runtime = 'dist'): Promise<DaemonMemory> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, SANDFLEET_LOG_LEVEL: 'info' };
  // The config's port 0 (any free port) must win: several benchmarks or daemons may be running.
  delete env.SANDFLEET_PORT;
  const started = performance.now();
  const child = spawn(process.execPath, sandfleetArgs(runtime, ['--config', configFile, 'daemon']), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = watchLog(child);
  try {
    await log.ready;
    const startMs = performance.now() - started;
    const samples: number[] = [];
    for (const end = Date.now() + seconds * 1000; Date.now() < end; ) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
      samples.push((await status(child.pid!)).rss);
      if (log.errors.length > 0) throw new Error(`the daemon logged an error: ${log.errors[0]}`);
    }
    const { peak } = await status(child.pid!);
    const settled = samples.slice(Math.floor(samples.length / 2)).sort((a, b) => a - b);
    return { rssMiB: percentile(settled, 50) / 1024, peakMiB: peak / 1024, startMs };
  } finally {
    await stop(child);
  }
}

/**
 * Builds the bundle `npm start` runs (`npm run build`), so the measured daemons run compiled code
 * as a deployment does (bin/sandfleet.js takes the bundle when it is fresh), not tsx's loader.
 */
export async function buildDaemon(): Promise<void> {
  const child = spawn('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`npm run build failed (exit ${code}): the daemons would run through tsx instead`);
}

/** The daemon's pino lines: resolves `ready` on its ready line, collects error lines. */
function watchLog(child: ChildProcess): { ready: Promise<void>; errors: string[] } {
  const errors: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the daemon was not ready within ${READY_TIMEOUT_MS / 1000}s`)), READY_TIMEOUT_MS);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        let entry: { level?: number; msg?: string };
        try {
          entry = JSON.parse(line) as { level?: number; msg?: string };
        } catch {
          continue;
        }
        if ((entry.level ?? 0) >= 50) errors.push(line.slice(0, 500));
        if (entry.msg === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the daemon exited (${code ?? signal}) before it was ready: ${stderr.trim().split('\n').slice(-5).join('\n')}`));
    });
  });
  // Once ready, a later exit is handled by stop(); the rejection must not go unhandled.
  ready.catch(() => {});
  return { ready, errors };
}

/** VmRSS and VmHWM in KiB. */
async function status(pid: number): Promise<{ rss: number; peak: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/** SIGTERM (the daemon drains), then SIGKILL if it is still there after 30 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const late = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(late);
}
