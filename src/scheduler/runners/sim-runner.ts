// The sim runner: pretends to analyse for a while, then succeeds or fails. Duration and failure
// rate come from the task payload (`sim: { durationMs, failRate }`) or the pool's defaults.
import { z } from 'zod';
import { abortedVerdict, wait, type RunContext, type Runner, type RunVerdict } from './types.js';

/** A sim pool's analysis takes a random time within these bounds when neither the pool nor the task names one. */
export const SIM_RUNNER_DEFAULTS = { minDurationMs: 50, maxDurationMs: 500 } as const;

export const simRunnerSettings = z
  .object({
    minDurationMs: z.number().int().min(0).default(SIM_RUNNER_DEFAULTS.minDurationMs),
    maxDurationMs: z.number().int().min(0).default(SIM_RUNNER_DEFAULTS.maxDurationMs),
    failRate: z.number().min(0).max(1).default(0),
  })
  .strict();

const payloadOverrides = z.object({ durationMs: z.number().int().min(0).optional(), failRate: z.number().min(0).max(1).optional() }).loose();

export class SimRunner implements Runner {
  private readonly settings: z.infer<typeof simRunnerSettings>;

  constructor(
    settings: unknown = {},
    private readonly random: () => number = Math.random,
  ) {
    this.settings = simRunnerSettings.parse(settings);
  }

  async run({ task, signal }: RunContext): Promise<RunVerdict> {
    const overrides = payloadOverrides.safeParse(task.payload.sim ?? {});
    const o = overrides.success ? overrides.data : {};
    const { minDurationMs, maxDurationMs } = this.settings;
    const duration = o.durationMs ?? Math.round(minDurationMs + this.random() * Math.max(0, maxDurationMs - minDurationMs));
    await wait(duration, signal);
    if (signal.aborted) return abortedVerdict(signal);
    if (this.random() < (o.failRate ?? this.settings.failRate)) return { outcome: 'failed', error: 'sim runner: simulated analysis failure' };
    return { outcome: 'completed', result: { runner: 'sim', durationMs: duration } };
  }
}
