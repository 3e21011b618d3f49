// Which scaling policy a pool runs, from its row's `autoscale` settings (synced from the config
// file's `pools[].autoscale`): the default forecasting policy, the demand one, or a baseline.
// One policy object per distinct setting serves every pool that names it, since the policies
// keep their memory per pool name.
import { z } from 'zod';
import type { PoolRow } from '../../db/schema.js';
import { demandPolicy, keepAlivePolicy, onDemandPolicy } from './demand.js';
import { FORECAST_DEFAULTS, forecastPolicy } from './forecast.js';
import { leakyBucketPolicy } from './leaky-bucket.js';
import type { AutoscalePolicy } from './policy.js';

/** The settings' ranges, shared with the config file's schema (src/config/schema.ts). */
export const AUTOSCALE_LIMITS = {
  cover: { min: 0.5, max: 0.999 },
  bootS: { min: 1, max: 3600 },
  intervalS: { min: 1, max: 86_400 },
  overprovision: { min: 0, max: 10 },
} as const;
const { cover, bootS, intervalS, overprovision } = AUTOSCALE_LIMITS;

export const autoscaleSettings = z.discriminatedUnion('policy', [
  z.object({ policy: z.literal('demand') }).strict(),
  z
    .object({
      policy: z.literal('forecast'),
      /** The cost/wait knob: the share of boot-length windows whose demand rise warm machines cover. */
      cover: z.number().min(cover.min).max(cover.max).default(FORECAST_DEFAULTS.cover),
      /** How far ahead machines must be asked for: the pool's boot time, request to ready; learned when not given. */
      bootS: z.number().int().min(bootS.min).max(bootS.max).optional(),
    })
    .strict(),
  z.object({ policy: z.literal('keep-alive') }).strict(),
  z.object({ policy: z.literal('on-demand') }).strict(),
  z
    .object({
      policy: z.literal('leaky-bucket'),
      intervalS: z.number().int().min(intervalS.min).max(intervalS.max).default(300),
      overprovision: z.number().min(overprovision.min).max(overprovision.max).default(0.2),
    })
    .strict(),
]);

export type AutoscaleSettings = z.infer<typeof autoscaleSettings>;
export const AUTOSCALE_POLICIES = autoscaleSettings.options.map((o) => o.shape.policy.value);

/** A pool row whose autoscale settings do not parse (written by something other than the config sync). */
export class AutoscaleSettingsError extends Error {
  override readonly name = 'AutoscaleSettingsError';
}

/** The pool's settings; a row with none (`{}`) runs the default policy, forecast with its defaults. */
export function autoscaleSettingsOf(pool: PoolRow): AutoscaleSettings {
  const value = Object.keys(pool.autoscale).length === 0 ? { policy: 'forecast' } : pool.autoscale;
  const parsed = autoscaleSettings.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new AutoscaleSettingsError(`pool ${pool.name}: autoscale.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
}

/** The policy's name for views: what the row names, or why it cannot run one. */
export function autoscalePolicyName(pool: PoolRow): string {
  try {
    return autoscaleSettingsOf(pool).policy;
  } catch {
    return 'invalid settings';
  }
}

function make(settings: AutoscaleSettings): AutoscalePolicy {
  switch (settings.policy) {
    case 'demand':
      return demandPolicy();
    case 'forecast':
      return forecastPolicy({ cover: settings.cover, ...(settings.bootS === undefined ? {} : { bootS: settings.bootS }) });
    case 'keep-alive':
      return keepAlivePolicy();
    case 'on-demand':
      return onDemandPolicy();
    case 'leaky-bucket':
      return leakyBucketPolicy({ intervalS: settings.intervalS, overprovision: settings.overprovision });
  }
}

/** The policies of one scheduler: each pool gets the one its row names, kept while its settings stay. */
export class PolicyBook {
  private readonly policies = new Map<string, AutoscalePolicy>();

  for(pool: PoolRow): AutoscalePolicy {
    const settings = autoscaleSettingsOf(pool);
    const key = JSON.stringify(settings);
    let policy = this.policies.get(key);
    if (!policy) this.policies.set(key, (policy = make(settings)));
    return policy;
  }
}
