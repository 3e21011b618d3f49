// sandfleet's default scaling policy. It keeps warm, beyond the machines busy work holds, as many
// machines as the pool's demand has risen within one boot time in `cover` of the past moments
// like this one, so that arrivals find a machine instead of waiting a boot; machines idle beyond
// that go after a short grace. The boot time is learned from the pool's own boots.
//
// Demand is d = queued + leased. Each tick is remembered with its context (the level of the
// pool's busiest moment in the last `recentS`, in powers of two: a quiet pool and a busy one rise
// differently); once a boot time has passed, the rise it saw, max(d over the boot time) − d, goes
// into its context's histogram. The machines the pool keeps (`keep`) are the most it wanted within
// the drain grace: a machine back from a task goes only when the pool has not wanted it that long,
// as an idle one does (deleting at every task's end churned one machine per task). Old observations fade with a half-life, so the policy follows a
// workload that changes. Pure apart from its own memory: the same ticks give the same plans, in
// the daemon and in the economics simulator alike.
import type { PoolRow } from '../../db/schema.js';
import type { AutoscalePolicy, PoolLoad, ScalePlan } from './policy.js';

export interface ForecastSettings {
  /**
   * The pool's boot time, request to ready: how far ahead warm machines must be asked for. Given,
   * it is fixed; absent, it is learned from the boots the pool shows, starting from `bootPriorS`.
   */
  bootS?: number;
  /** The boot time assumed before the pool has shown one. */
  bootPriorS: number;
  /** The share (0.5–0.999) of boot-length windows whose demand rise the warm machines should cover: the cost/wait knob. */
  cover: number;
  /** The window whose busiest moment sets the context. */
  recentS: number;
  /** Observations of a context lose half their weight after this many newer ones. */
  halfLife: number;
  /** A machine beyond the warm ones goes once idle this long, or the pool's idle_timeout_s if shorter (a new task may be a tick away). */
  drainGraceS: number;
  /** A machine back from a task beyond the busy and warm ones the pool wanted within the drain grace is deleted rather than reimaged. */
  retireSurplus: boolean;
  /**
   * Pool seconds per wall-clock second, for runs in accelerated time (a benchmark replaying a day
   * in minutes); 1 in production. Every duration above is in pool seconds.
   */
  timeScale: number;
}

export const FORECAST_DEFAULTS: Readonly<ForecastSettings> = { bootPriorS: 60, cover: 0.95, recentS: 900, halfLife: 2000, drainGraceS: 20, retireSurplus: true, timeScale: 1 };

/** Boots remembered for the learned boot time, and the share of them the lead time covers. */
const BOOTS_KEPT = 16;
const BOOT_COVER = 0.9;

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
  /** The pending ticks whose demand no later pending tick reaches: the first is the highest. */
  private readonly highest: Sample[] = [];
  private readonly boots = new BootWatch();
  /** Ticks of the drain grace whose want no later tick reaches: the first holds the most wanted. */
  private readonly wants: { t: number; want: number }[] = [];

  constructor(private readonly settings: ForecastSettings) {}

  plan(pool: PoolRow, load: PoolLoad, nowMs: number): ScalePlan {
    const { timeScale } = this.settings;
    const t = (nowMs / 1000) * timeScale;
    const d = load.queued + load.leased;
    if (load.bootingForS !== undefined) this.boots.observe(t, load.bootingForS === null ? null : load.bootingForS * timeScale);
    const context = this.observe(t, d, this.settings.bootS ?? this.boots.estimate(this.settings.bootPriorS));
    const warm = Math.max(this.histograms.get(context)?.quantile(this.settings.cover) ?? 0, pool.minReady);
    if (!pool.active) return { create: 0, drain: load.ready, drainIdleForMs: 0 };
    const want = Math.min(pool.maxSize, d + warm);
    const supply = load.leased + load.ready + load.coming;
    const graceS = Math.min(this.settings.drainGraceS, pool.idleTimeoutS);
    return {
      create: Math.max(0, want - supply),
      drain: Math.max(0, Math.min(load.ready - load.queued, supply - want)),
      drainIdleForMs: (graceS * 1000) / timeScale,
      ...(this.settings.retireSurplus ? { keep: this.mostWanted(t, want, graceS) } : {}),
    };
  }

  /** The highest want of the last `graceS` seconds, this tick's included. */
  private mostWanted(t: number, want: number, graceS: number): number {
    const wants = this.wants;
    while (wants.length && wants[0]!.t <= t - graceS) wants.shift();
    while (wants.length && wants.at(-1)!.want <= want) wants.pop();
    wants.push({ t, want });
    return wants[0]!.want;
  }

  /** Records this tick and settles the ticks a boot time old; answers this tick's context. */
  private observe(t: number, d: number, bootS: number): number {
    const { recentS } = this.settings;
    while (this.peaks.length && this.peaks[0]!.t <= t - recentS) this.peaks.shift();
    while (this.peaks.length && this.peaks.at(-1)!.d <= d) this.peaks.pop();
    this.peaks.push({ t, d });
    const context = levelOf(this.peaks[0]!.d);
    const sample = { t, d, context };
    this.pending.push(sample);
    while (this.highest.length && this.highest.at(-1)!.d <= d) this.highest.pop();
    this.highest.push(sample);
    while (this.pending[0]!.t <= t - bootS) {
      const settled = this.pending.shift()!;
      if (this.highest[0] === settled) this.highest.shift();
      // The highest demand of the boot time after it (or itself, when no later tick is left).
      const rise = (this.highest[0]?.d ?? settled.d) - settled.d;
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

/**
 * Learns a pool's boot time from the age of its oldest booting machine: when that age falls
 * behind the clock, the machine it belonged to has finished booting (or failed), somewhere since
 * the previous tick; the later end counts. After a gap in the ticks (the pool's lease was
 * elsewhere) the end is too uncertain, and the fall is not counted.
 */
export class BootWatch {
  private last: { t: number; age: number } | null = null;
  private readonly seen: number[] = [];

  observe(t: number, age: number | null): void {
    const last = this.last;
    const gap = last ? t - last.t : 0;
    if (last && (age === null || age < last.age + gap - 1e-6) && gap <= Math.max(5, last.age / 4)) {
      this.seen.push(last.age + gap);
      if (this.seen.length > BOOTS_KEPT) this.seen.shift();
    }
    this.last = age === null ? null : { t, age };
  }

  estimate(prior: number): number {
    if (this.seen.length === 0) return prior;
    const sorted = [...this.seen].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(BOOT_COVER * sorted.length))]!;
  }
}

/** 0 for an idle pool, then 1, 2-3, 4-7, …: the busiest moment's order of magnitude. */
function levelOf(peak: number): number {
  return peak <= 0 ? 0 : 1 + Math.floor(Math.log2(peak));
}

export function forecastPolicy(settings: Partial<ForecastSettings> = {}): AutoscalePolicy {
  const full: ForecastSettings = { ...FORECAST_DEFAULTS, ...settings };
  if (!(full.cover > 0 && full.cover < 1)) throw new RangeError(`cover must be between 0 and 1, got ${full.cover}`);
  if (full.bootS !== undefined && !(full.bootS > 0)) throw new RangeError(`bootS must be positive, got ${full.bootS}`);
  if (!(full.bootPriorS > 0)) throw new RangeError(`bootPriorS must be positive, got ${full.bootPriorS}`);
  if (!(full.timeScale > 0)) throw new RangeError(`timeScale must be positive, got ${full.timeScale}`);
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
