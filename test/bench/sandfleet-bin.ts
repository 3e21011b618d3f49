// The `sandfleet` binary the benchmarks spawn (daemons, the simulated agents, the CLI), and the
// environment they give it: the harness's own, less anything that would pick a port, config,
// log level, database or Redis for the child behind the run's back.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'sandfleet.js');

export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SANDFLEET_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL'));
  return { ...inherited, ...env };
}

/**
 * How a benchmark runs the command: `dist` as shipped (bin/sandfleet.js on the compiled build), or
 * `tsx`, the TypeScript sources through tsx's loader as the binary ran them before the compiled
 * build (the "before" of the start-up and memory figures).
 */
export type Runtime = 'dist' | 'tsx';

const TSX_ENTRY = path.join(ROOT, 'test', 'bench', 'tsx-entry.ts');

/** The node arguments that run `sandfleet args...` on a runtime. */
export function sandfleetArgs(runtime: Runtime, args: readonly string[]): string[] {
  return runtime === 'dist' ? [BIN, ...args] : ['--import', 'tsx', TSX_ENTRY, ...args];
}
