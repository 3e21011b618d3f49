// What a pool's row says about running tasks and judging readiness (synced from the config
// file, so every daemon reads the same): which runner, which probe, how long a boot may take.
import { z } from 'zod';
import type { PoolRow } from '../db/schema.js';
import type { ReadinessOptions } from './lifecycle/readiness.js';
import { CommandRunner, commandRunnerSettings } from './runners/command-runner.js';
import { SimRunner, simRunnerSettings } from './runners/sim-runner.js';
import type { Runner } from './runners/types.js';

/** Agent pools: the analysis is driven over REST by an agent on the machine (no runner in the daemon). */
export const agentRunnerSettings = z
  .object({
    kind: z.literal('agent'),
    /** A lease whose agent is silent this long ends like a lost machine (its task requeued while attempts remain). */
    heartbeatTimeoutS: z.number().int().min(15).max(3600).default(60),
    /** The API address agents are told to call (default: the daemon's own). */
    apiUrl: z.url().optional(),
  })
  .strict();

export const runnerSettings = z.discriminatedUnion('kind', [
  simRunnerSettings.extend({ kind: z.literal('sim') }).strict(),
  commandRunnerSettings.extend({ kind: z.literal('command') }).strict(),
  agentRunnerSettings,
]);

const port = z.number().int().min(1).max(65_535);

export const readinessSettings = z
  .object({
    bootTimeoutS: z.number().int().min(1).max(86_400).default(600),
    probe: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('tcp'), port }).strict(),
        z.object({ kind: z.literal('http'), port, path: z.string().startsWith('/', 'path must start with /').default('/') }).strict(),
      ])
      .optional(),
    probeTimeoutMs: z.number().int().min(1).max(60_000).default(2000),
  })
  .strict();

export type RunnerSettings = z.infer<typeof runnerSettings>;
export type AgentRunnerSettings = z.infer<typeof agentRunnerSettings>;
export type ReadinessSettings = z.infer<typeof readinessSettings>;

/** A pool row whose runner or readiness settings do not parse (written by something other than the config sync). */
export class PoolSettingsError extends Error {
  override readonly name = 'PoolSettingsError';
}

export function runnerForPool(pool: PoolRow): Runner {
  const settings = parse(runnerSettings, pool.runner, pool.name, 'runner');
  if (settings.kind === 'agent') throw new PoolSettingsError(`pool ${pool.name}: its tasks are run by agents over the API, not by a runner in the daemon`);
  return settings.kind === 'sim' ? new SimRunner(withoutKind(settings)) : new CommandRunner(withoutKind(settings));
}

/** The pool's agent settings, or null when a runner in the daemon runs its tasks. */
export function agentSettingsOf(pool: PoolRow): AgentRunnerSettings | null {
  const settings = parse(runnerSettings, pool.runner, pool.name, 'runner');
  return settings.kind === 'agent' ? settings : null;
}

export function readinessForPool(pool: PoolRow): ReadinessOptions {
  const { bootTimeoutS, probe, probeTimeoutMs } = parse(readinessSettings, pool.readiness, pool.name, 'readiness');
  return { bootTimeoutMs: bootTimeoutS * 1000, probe, probeTimeoutMs };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, pool: string, field: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PoolSettingsError(`pool ${pool}: ${field}.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
}

function withoutKind<T extends { kind: string }>(settings: T): Omit<T, 'kind'> {
  const { kind: _kind, ...rest } = settings;
  return rest;
}
