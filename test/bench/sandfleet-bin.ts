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
