// (d) Daemon RSS holding 10k machines and 100k tasks: the real daemon, supervising (scaling,
// deadline watch, reconciling every 5 s: every machine row and sim instance read) a database
// seeded with that many rows, against the same daemon on an empty database (the baseline: the
// same imports and connections, no data); each on the compiled build and, as before it, on the
// sources through tsx.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { parseConfig, poolDefinition } from '../../src/config/load.js';
import { syncPools } from '../../src/machinery/index.js';
import { daemonMemory, buildDaemon, type DaemonMemory } from './daemon-process.js';
import type { Runtime } from './sandfleet-bin.js';
import { withBenchDatabase } from './database.js';
import { INSTANT_SIM } from './pools.js';
import { seedFleet } from './seed.js';
import type { Figure, Step } from './figures.js';
import type { BenchOptions } from './options.js';

const POOLS = 10;

export interface MemoryOptions {
  machines: number;
  tasks: number;
  seconds: number;
}

export interface MemoryResult {
  loaded: Record<Runtime, DaemonMemory>;
  baseline: Record<Runtime, DaemonMemory>;
  pools: number;
  /** Ready machines after the daemon stopped: the seeded fleet must be left as it was. */
  readyAfter: number;
}

export async function measureMemory(options: MemoryOptions): Promise<MemoryResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sf-bench-'));
  try {
    const cluster = `bench-${randomBytes(4).toString('hex')}`;
    await buildDaemon();
    const baseline = await withBenchDatabase('memory_idle', { max: 2 }, async ({ url }) => {
      const file = await writeConfig(dir, 'idle.json', cluster, 0, options.machines / POOLS);
      return { dist: await daemonMemory(file, url, options.seconds, 'dist'), tsx: await daemonMemory(file, url, options.seconds, 'tsx') };
    });
    return await withBenchDatabase('memory', { max: 2 }, async ({ db, url }) => {
      const perPool = Math.ceil(options.machines / POOLS);
      const file = await writeConfig(dir, 'loaded.json', cluster, perPool, perPool);
      // The pool rows exactly as the daemon's own sync will write them, so it changes nothing.
      const config = parseConfig(await readFile(file, 'utf8'), file, {});
      const pools = await syncPools(db, config.pools.map(poolDefinition));
      await seedFleet(db, cluster, pools.map((p) => p.name), { machines: perPool * POOLS, tasks: options.tasks });
      const loaded = { dist: await daemonMemory(file, url, options.seconds, 'dist'), tsx: await daemonMemory(file, url, options.seconds, 'tsx') };
      const after = await db.execute(sql`SELECT count(*)::int AS n FROM machines WHERE state = 'ready'`);
      return { loaded, baseline, pools: POOLS, readyAfter: Number(after.rows[0]?.n ?? 0) };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A daemon config (JSON is YAML) with POOLS sim pools of `minReady` warm machines out of `maxSize`. */
async function writeConfig(dir: string, name: string, cluster: string, minReady: number, maxSize: number): Promise<string> {
  const config = {
    cluster,
    queue: { backend: 'postgres' },
    api: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    // The daemon's defaults, but reconciling every 5 s so the window sees several full passes.
    scheduler: { supervise_every_ms: 500, reconcile_every_s: 5 },
    pools: Array.from({ length: POOLS }, (_, i) => ({
      name: `mem-${i}`,
      provider: 'sim',
      min_ready: minReady,
      max_size: maxSize,
      idle_timeout_s: 600,
      recycle: 'delete',
      settings: INSTANT_SIM,
      runner: { kind: 'sim', min_duration_ms: 0, max_duration_ms: 0 },
    })),
  };
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export function memorySteps(o: BenchOptions): Step[] {
  return [
    {
      section: 'd',
      title: `daemon RSS, ${o.memoryMachines} machines and ${o.memoryTasks} tasks vs. an empty database (${o.memorySeconds} s each)`,
      run: async (): Promise<Figure[]> => {
        const r = await measureMemory({ machines: o.memoryMachines, tasks: o.memoryTasks, seconds: o.memorySeconds });
        const how = (m: DaemonMemory) => `peak ${m.peakMiB.toFixed(0)} MiB, ready ${(m.startMs / 1000).toFixed(1)} s after spawn`;
        return [
          {
            key: 'daemon.rss.idle.tsx',
            label: 'daemon RSS on an empty database, the sources through tsx (before the compiled build)',
            value: r.baseline.tsx.rssMiB,
            unit: 'MiB',
            better: 'lower',
            detail: `\`node --import tsx\` on src/cli/main.ts, as bin/sandfleet.js ran it before dist/; ${how(r.baseline.tsx)}`,
          },
          {
            key: 'daemon.rss.idle',
            label: 'daemon RSS on an empty database (same config, no data)',
            value: r.baseline.dist.rssMiB,
            unit: 'MiB',
            better: 'lower',
            limit: 'daemon.rss.idle.tsx',
            detail: `\`node bin/sandfleet.js daemon\` (dist/), ${r.pools} sim pools with min_ready 0; median VmRSS over the last half of ${o.memorySeconds} s; ${how(r.baseline.dist)}`,
          },
          {
            key: 'daemon.rss',
            label: `daemon RSS holding ${o.memoryMachines} machines and ${o.memoryTasks} tasks`,
            value: r.loaded.dist.rssMiB,
            unit: 'MiB',
            better: 'lower',
            limit: 'daemon.rss.idle',
            detail: `${r.pools} sim pools of ${o.memoryMachines / r.pools} ready machines (min_ready = max_size) with their sim instances, ${o.memoryTasks} completed tasks; supervising every 500 ms, reconciling every 5 s; median VmRSS over the last half of ${o.memorySeconds} s; ${how(r.loaded.dist)}; ${r.readyAfter} machines still ready afterwards`,
          },
          {
            key: 'daemon.rss.tsx',
            label: `daemon RSS holding ${o.memoryMachines} machines and ${o.memoryTasks} tasks, the sources through tsx (before)`,
            value: r.loaded.tsx.rssMiB,
            unit: 'MiB',
            better: 'lower',
            limit: 'daemon.rss',
            detail: `the same database and config as daemon.rss; ${how(r.loaded.tsx)}`,
          },
        ];
      },
    },
  ];
}
