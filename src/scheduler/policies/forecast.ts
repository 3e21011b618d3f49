// A forecasting scaling policy (issue 14, in development; not the default yet). It keeps warm,
// beyond the machines busy work holds, as many machines as the pool's demand has risen within one
// boot time in `cover` of the past moments like this one, so that arrivals find a machine
// instead of waiting a boot; machines idle beyond that go after a short grace.
//
// Demand is d = queued + leased. Each tick is remembered with its context (the level of the
// pool's busiest moment in the last `recentS`, in powers of two: a quiet pool and a busy one rise
// differently); once a boot time has passed, the rise it saw, max(d over the boot time) − d, goes
// into its context's histogram. Old observations fade with a half-life, so the policy follows a
// workload that changes. Pure apart from its own memory: the same ticks give the same plans, in
// the daemon and in the economics simulator alike.
import type { PoolRow } from '../../db/schema.js';
import type { AutoscalePolicy, PoolLoad, ScalePlan } from './policy.js';

export interface ForecastSettings {
  /** How long a machine takes from request to ready: how far ahead the warm machines must be asked for. */
  bootS: number;
  /** The share (0.5–0.999) of boot-length windows whose demand rise the warm machines should cover: the cost/wait knob. */
  cover: number;
  /** The window whose busiest moment sets the context. */
  recentS: number;
  /** Observations of a context lose half their weight after this many newer ones. */
  halfLife: number;
  /** A machine beyond the warm ones goes once idle this long (a new task may be a tick away). */
  drainGraceS: number;
  /** A machine back from a task beyond the busy and warm ones is deleted rather than reimaged. */
  retireSurplus: boolean;
}

export const FORECAST_DEFAULTS: Readonly<Omit<ForecastSettings, 'bootS'>> = { cover: 0.9, recentS: 900, halfLife: 2000, drainGraceS: 20, retireSurplus: false };

/** Rises beyond this are counted as this (a histogram of bounded size whatever max_size is). */
const MAX_RISE = 1024;

interface Sample {
  t: number;
  d: number;
  context: number;
}

/** Decayed counts of the rises seen in one context; decay by growing the weight of new observations. */
class RiseHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private weight = 1;

  constructor(private readonly growth: number) {}

  add(rise: number): void {
    const bin = Math.min(MAX_RISE, rise);
    this.counts.set(bin, (this.counts.get(bin) ?? 0) + this.weight);
    this.total += this.weight;
    this.weight *= this.growth;
    if (this.weight > 1e200) this.rescale();
  }

  /** The smallest rise at or below which `share` of the weight lies. */
  quantile(share: number): number {
    if (this.total === 0) return 0;
    let below = 0;
    for (const bin of [...this.counts.keys()].sort((a, b) => a - b)) {
      below += this.counts.get(bin)!;
      if (below >= share * this.total) return bin;
    }
    return MAX_RISE;
  }

  private rescale(): void {
    for (const [bin, n] of this.counts) this.counts.set(bin, n / this.weight);
    this.total /= this.weight;
    this.weight = 1;
  }
}

/** One pool's memory: the ticks of the last boot time, the busiest of the last `recentS`, the histograms. */
export class ForecastState {
  private readonly pending: Sample[] = [];
  /** Ticks of the last `recentS` whose demand no later tick exceeds: the first holds the busiest. */
  private readonly peaks: { t: number; d: number }[] = [];
  private readonly histograms = new Map<number, RiseHistogram>();

  constructor(private readonly settings: ForecastSettings) {}

  plan(pool: PoolRow, load: PoolLoad, nowMs: number): ScalePlan {
    const t = nowMs / 1000;
    const d = load.queued + load.leased;
    const context = this.observe(t, d);
    const warm = Math.max(this.histograms.get(context)?.quantile(this.settings.cover) ?? 0, pool.minReady);
    if (!pool.active) return { create: 0, drain: load.ready, drainIdleForMs: 0 };
    const want = Math.min(pool.maxSize, d + warm);
    const supply = load.leased + load.ready + load.coming;
    return {
      create: Math.max(0, want - supply),
      drain: Math.max(0, Math.min(load.ready - load.queued, supply - want)),
      drainIdleForMs: this.settings.drainGraceS * 1000,
      ...(this.settings.retireSurplus ? { keep: want } : {}),
    };
  }

  /** Records this tick and settles the ticks a boot time old; answers this tick's context. */
  private observe(t: number, d: number): number {
    const { bootS, recentS } = this.settings;
    while (this.peaks.length && this.peaks[0]!.t <= t - recentS) this.peaks.shift();
    while (this.peaks.length && this.peaks.at(-1)!.d <= d) this.peaks.pop();
    this.peaks.push({ t, d });
    const context = levelOf(this.peaks[0]!.d);
    this.pending.push({ t, d, context });
    while (this.pending[0]!.t <= t - bootS) {
      const settled = this.pending.shift()!;
      const rise = Math.max(0, ...this.pending.map((s) => s.d)) - settled.d;
      this.histogram(settled.context).add(Math.max(0, rise));
    }
    return context;
  }

  private histogram(context: number): RiseHistogram {
    let h = this.histograms.get(context);
    if (!h) this.histograms.set(context, (h = new RiseHistogram(2 ** (1 / this.settings.halfLife))));
    return h;
  }
}

/** 0 for an idle pool, then 1, 2-3, 4-7, …: the busiest moment's order of magnitude. */
function levelOf(peak: number): number {
  return peak <= 0 ? 0 : 1 + Math.floor(Math.log2(peak));
}

export function forecastPolicy(settings: Partial<ForecastSettings> & Pick<ForecastSettings, 'bootS'>): AutoscalePolicy {
  const full: ForecastSettings = { ...FORECAST_DEFAULTS, ...settings };
  if (!(full.cover > 0 && full.cover < 1)) throw new RangeError(`cover must be between 0 and 1, got ${full.cover}`);
  if (!(full.bootS > 0)) throw new RangeError(`bootS must be positive, got ${full.bootS}`);
  const states = new Map<string, ForecastState>();
  return {
    name: 'forecast',
    plan(pool, load, now) {
      let state = states.get(pool.name);
      if (!state) states.set(pool.name, (state = new ForecastState(full)));
      return state.plan(pool, load, now.getTime());
    },
  };
}
