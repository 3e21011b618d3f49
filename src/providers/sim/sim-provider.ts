// The sim provider: a simulated cloud whose instances live in the sim_cloud schema, with boot
// delays and seeded fault injection (throttling, transient errors, capacity shortages, an
// eventual-consistency window, spontaneous death). The default provider: no cloud account.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Executor } from '../../db/database.js';
import { BATCH_WINDOW_MS, Batcher, type BatchResult } from '../batcher.js';
import { Budget } from '../budget.js';
import { capacity, throttled, transient, type ProviderError } from '../errors.js';
import { prng } from '../prng.js';
import { invalidSettings } from '../settings-error.js';
import { TAG, type CallMeter, type CreateRequest, type Instance, type InstanceState, type Launch, type LookupOptions, type Provider } from '../types.js';
import { LaunchLedger } from '../visibility.js';
import { Launches, type LaunchResult } from '../launches.js';
import { simInstances as si } from './schema.js';
import { simSettingsSchema, type SimBudget, type SimSettings } from './settings.js';

export interface SimProviderOptions {
  /** Takes a token of the account's bucket for the call's class before the sim cloud is asked. */
  meter?: CallMeter;
  cluster: string;
  pool: string;
  settings: unknown;
  db: Executor;
}

const NOT_FOUND_CODE = 'InstanceNotFound';
type SimCallClass = keyof SimBudget;
/** The sim account's buckets, shared by this process's pools of one cluster that set the same budget. */
const ACCOUNTS = new Map<string, Budget<SimCallClass>>();
const PURGE_EVERY_MS = 5_000;

/** What the sim cloud was asked, per cluster: requests by call class and how many it throttled (its side of the meter, as the emulators keep theirs). */
export type SimRequestCounts = Record<SimCallClass | 'throttled', number>;
const REQUESTS = new Map<string, SimRequestCounts>();

/** The sim cloud's requests of one cluster so far, in this process. */
export function simRequests(cluster: string): Readonly<SimRequestCounts> {
  return { ...requestsOf(cluster) };
}

function requestsOf(cluster: string): SimRequestCounts {
  let counts = REQUESTS.get(cluster);
  if (!counts) REQUESTS.set(cluster, (counts = { create: 0, describe: 0, stop: 0, delete: 0, reimage: 0, throttled: 0 }));
  return counts;
}
/** Status reads of many machines share one statement, as DescribeInstances takes many ids. */
const DESCRIBE_BATCH = { maxBatch: 500, windowMs: BATCH_WINDOW_MS };
/** So do stops, deletes and reimages, as Stop/TerminateInstances do. */
const CHANGE_BATCH = DESCRIBE_BATCH;

type Change = 'stop' | 'delete' | 'reimage';
/** Each change: the phase it moves an instance into, from which visible states, settling after which delay. */
const CHANGES: Record<Change, { phase: string; from: readonly InstanceState[]; delay: 'stopDelayMs' | 'terminateDelayMs' | 'bootDelayMs' }> = {
  stop: { phase: 'stopping', from: ['pending', 'running'], delay: 'stopDelayMs' },
  delete: { phase: 'terminating', from: ['pending', 'running', 'stopping', 'stopped'], delay: 'terminateDelayMs' },
  reimage: { phase: 'reimaging', from: ['pending', 'running', 'stopping', 'stopped'], delay: 'bootDelayMs' },
};

/** The visible state, derived from the last request and the clock. */
const STATE = sql`CASE
  WHEN ${si.diesAt} IS NOT NULL AND ${si.diesAt} <= now() AND ${si.phase} <> 'terminating' THEN 'terminated'
  WHEN ${si.phase} IN ('launched', 'reimaging') THEN CASE WHEN ${si.settlesAt} <= now() THEN 'running' ELSE 'pending' END
  WHEN ${si.phase} = 'stopping' THEN CASE WHEN ${si.settlesAt} <= now() THEN 'stopped' ELSE 'stopping' END
  ELSE CASE WHEN ${si.settlesAt} <= now() THEN 'terminated' ELSE 'terminating' END END`;

/** Alive as the cloud sees it: neither asked to terminate nor dead. */
const LIVE = sql`${si.phase} <> 'terminating' AND (${si.diesAt} IS NULL OR ${si.diesAt} > now())`;

/** What a read answers of an instance. */
const COLUMNS = sql`id, tags->>${TAG.machine} AS machine_id, tags->>${TAG.launch} AS launch_id, ip, ${STATE} AS state, launched_at`;

interface SimRow {
  id: string;
  machine_id: string | null;
  launch_id: string | null;
  ip: string;
  state: InstanceState;
  launched_at: Date;
}

export class SimProvider implements Provider {
  readonly kind = 'sim';
  readonly capabilities = { reimage: true, stopWithoutDelete: true, spot: false, perInstanceUserData: true };
  private readonly settings: SimSettings;
  private readonly ledger: LaunchLedger;
  private readonly random: () => number;
  private readonly budget: Budget<SimCallClass> | null;
  private purgedAt = -Infinity;
  private readonly launches = new Launches();
  private readonly changers: Record<Change, Batcher<string, InstanceState | null>> = {
    stop: new Batcher((ids) => this.changeBatch('stop', ids), CHANGE_BATCH),
    delete: new Batcher((ids) => this.changeBatch('delete', ids), CHANGE_BATCH),
    reimage: new Batcher((ids) => this.changeBatch('reimage', ids), CHANGE_BATCH),
  };
  private readonly describer = new Batcher<string, SimRow | null>((ids) => this.describeBatch(ids), DESCRIBE_BATCH);

  constructor(private readonly options: SimProviderOptions) {
    const parsed = simSettingsSchema.safeParse(options.settings ?? {});
    if (!parsed.success) throw invalidSettings(options.pool, parsed.error.issues);
    this.settings = parsed.data;
    this.ledger = new LaunchLedger(this.settings.notFoundGraceS * 1000);
    this.random = prng(this.settings.faults.seed);
    this.budget = accountBudget(options.cluster, this.settings.budget);
  }

  create(request: CreateRequest): Promise<Instance> {
    const launch = request.launch;
    // Each instance keeps its own user data: a machine with some is launched alone, as on EC2.
    if (launch && request.userData === undefined) {
      return this.launches.instanceFor(request.machineId, launch, () => this.faulty('create', 'create', () => this.launchWhole(request, launch)));
    }
    return this.faulty('create', 'create', () => this.launch(request));
  }

  get(providerId: string, options: LookupOptions = {}): Promise<Instance> {
    // Charged per batched read, not per get: see describeBatch.
    return this.faulty('get', null, () => this.describe(providerId, options));
  }

  list(): Promise<Instance[]> {
    return this.faulty('list', 'describe', () => this.listVisible());
  }

  async stop(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.changers.stop.call(providerId)) === null) throw this.ledger.missing(providerId, options, 'stop', NOT_FOUND_CODE);
  }

  async delete(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.changers.delete.call(providerId)) !== null) {
      this.ledger.recordDeleted(providerId);
      return;
    }
    const gone = this.ledger.missing(providerId, options, 'delete', NOT_FOUND_CODE);
    if (gone.kind !== 'not_found') throw gone;
  }

  async reimage(providerId: string): Promise<void> {
    const state = await this.changers.reimage.call(providerId);
    if (state === null || state === 'terminated' || state === 'terminating') throw this.ledger.missing(providerId, {}, 'reimage', NOT_FOUND_CODE);
  }

  /** One request for every stop (delete, reimage) of the window, as EC2 takes many ids: one budget token, one statement. */
  private async changeBatch(how: Change, ids: string[]): Promise<Map<string, BatchResult<InstanceState | null>>> {
    const { phase, from, delay } = CHANGES[how];
    try {
      const before = await this.faulty(how, how, () => this.request(ids, phase, this.settings[delay], from));
      return new Map(ids.map((id) => [id, { ok: true, value: before.get(id) ?? null }]));
    } catch (error) {
      return new Map(ids.map((id) => [id, { ok: false, error }]));
    }
  }

  private async launch(request: CreateRequest): Promise<Instance> {
    const f = this.settings.faults;
    if (f.capacityRate && this.random() < f.capacityRate) throw capacity('sim: no capacity for this pool right now', { operation: 'create', code: 'InsufficientCapacity' });
    if (f.maxInstances !== undefined && (await this.liveCount()) >= f.maxInstances) {
      throw capacity(`sim: pool ${this.options.pool} is at its quota of ${f.maxInstances} instances`, { operation: 'create', code: 'InsufficientCapacity' });
    }
    const { id, ip, diesInMs: dies } = this.newInstance();
    const tags = { ...request.tags, [TAG.cluster]: this.options.cluster, [TAG.pool]: this.options.pool, [TAG.machine]: request.machineId, [TAG.name]: request.name };
    const o = this.options;
    // Idempotent on the machine id: a repeated create returns the instance the first one made.
    const created = await o.db.execute(sql`
      INSERT INTO ${si} (id, cluster, pool, client_token, name, tags, ip, user_data, phase, settles_at, dies_at)
      VALUES (${id}, ${o.cluster}, ${o.pool}, ${request.machineId}, ${request.name}, ${JSON.stringify(tags)}::jsonb, ${ip}, ${request.userData ?? null}, 'launched',
              now() + ${this.settings.bootDelayMs} * interval '1 millisecond',
              ${dies === null ? null : sql`now() + ${dies} * interval '1 millisecond'`})
      ON CONFLICT (cluster, pool, client_token) DO NOTHING`);
    const row = await this.byClientToken(request.machineId);
    if (!row) throw transient(`sim: instance for ${request.machineId} vanished after create`, { operation: 'create' });
    if (created.rowCount) this.ledger.record(row.id);
    return toInstance(row);
  }

  /**
   * Every instance of a launch in one statement, as many as the pool's instance quota leaves
   * room for; client tokens `<launch>:<index>`. Repeated, it launches nothing and answers what
   * the first request launched.
   */
  private async launchWhole(request: CreateRequest, launch: Launch): Promise<LaunchResult> {
    const f = this.settings.faults;
    if (f.capacityRate && this.random() < f.capacityRate) throw capacity('sim: no capacity for this pool right now', { operation: 'create', code: 'InsufficientCapacity' });
    const o = this.options;
    const tags = { ...request.tags, [TAG.cluster]: o.cluster, [TAG.pool]: o.pool, [TAG.launch]: launch.id, [TAG.name]: `sf-${o.pool}` };
    const members = Array.from({ length: launch.size }, (_, index) => ({ index, ...this.newInstance() }));
    const room = f.maxInstances === undefined ? launch.size : sql`GREATEST(0, ${f.maxInstances} - (SELECT count(*) FROM ${si} WHERE ${this.mine()} AND ${LIVE}))`;
    const token = sql`${launch.id} || ':' || m.idx`;
    await o.db.execute(sql`
      INSERT INTO ${si} (id, cluster, pool, client_token, name, tags, ip, phase, settles_at, dies_at)
      SELECT m.id, ${o.cluster}, ${o.pool}, ${token}, ${tags[TAG.name]}, ${JSON.stringify(tags)}::jsonb, m.ip, 'launched',
             now() + ${this.settings.bootDelayMs} * interval '1 millisecond', now() + m.dies_ms * interval '1 millisecond'
      FROM unnest(${sql.param(members.map((m) => m.index))}::int[], ${sql.param(members.map((m) => m.id))}::text[],
                  ${sql.param(members.map((m) => m.ip))}::text[], ${sql.param(members.map((m) => m.diesInMs))}::int[]) AS m(idx, id, ip, dies_ms)
      WHERE NOT EXISTS (SELECT 1 FROM ${si} WHERE ${this.mine()} AND ${si.clientToken} LIKE ${launch.id} || ':%')
      ORDER BY m.idx LIMIT ${room}
      ON CONFLICT (cluster, pool, client_token) DO NOTHING`);
    const result = await o.db.execute(sql`
      SELECT ${COLUMNS}, split_part(${si.clientToken}, ':', 2)::int AS launch_index FROM ${si}
      WHERE ${this.mine()} AND ${si.clientToken} LIKE ${launch.id} || ':%'`);
    const launched = new Map<number, Instance>();
    for (const row of result.rows as unknown as (SimRow & { launch_index: number })[]) {
      this.ledger.record(row.id);
      launched.set(row.launch_index, toInstance(row));
    }
    return launched;
  }

  private async liveCount(): Promise<number> {
    const result = await this.options.db.execute(sql`SELECT count(*)::int AS n FROM ${si} WHERE ${this.mine()} AND ${LIVE}`);
    return Number(result.rows[0]?.n ?? 0);
  }

  /** This pool's instances. */
  private mine() {
    return sql`${si.cluster} = ${this.options.cluster} AND ${si.pool} = ${this.options.pool}`;
  }

  /** A new instance's id, address and, where death is injected, when it dies. */
  private newInstance(): { id: string; ip: string; diesInMs: number | null } {
    const f = this.settings.faults;
    const diesInMs = f.deathRate && this.random() < f.deathRate ? Math.round(this.random() * f.deathWithinS * 1000) : null;
    const ip = this.settings.address ?? `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}`;
    return { id: `sim-${randomBytes(8).toString('hex')}`, ip, diesInMs };
  }

  private async describe(providerId: string, options: LookupOptions): Promise<Instance> {
    await this.purge();
    const row = await this.describer.call(providerId);
    if (!row) throw this.ledger.missing(providerId, options, 'get', NOT_FOUND_CODE);
    this.ledger.recordSeen(providerId);
    return toInstance(row);
  }

  /** One read for every get of the window: one budget token, one statement. */
  private async describeBatch(ids: string[]): Promise<Map<string, BatchResult<SimRow | null>>> {
    await this.options.meter?.('describe');
    const refused = this.refusal('get', 'describe');
    if (refused) return new Map(ids.map((id) => [id, { ok: false, error: refused }]));
    const result = await this.options.db.execute(sql`
      SELECT ${COLUMNS} FROM ${si}
      WHERE ${si.cluster} = ${this.options.cluster} AND ${si.pool} = ${this.options.pool}
        AND ${si.id} = ANY(${sql.param(ids)}::text[]) AND ${this.visible()}`);
    const rows = new Map((result.rows as unknown as SimRow[]).map((row) => [row.id, row]));
    return new Map(ids.map((id) => [id, { ok: true, value: rows.get(id) ?? null }]));
  }

  private async listVisible(): Promise<Instance[]> {
    await this.purge();
    const result = await this.options.db.execute(sql`
      SELECT ${COLUMNS} FROM ${si}
      WHERE ${si.cluster} = ${this.options.cluster} AND ${si.pool} = ${this.options.pool} AND ${this.visible()}
      ORDER BY ${si.launchedAt}, ${si.id}`);
    return (result.rows as unknown as SimRow[]).map(toInstance);
  }

  /**
   * Moves each visible instance into `phase` if its state is one of `from`; answers the state
   * each had before the request (instances not visible are left out).
   */
  private async request(ids: string[], phase: string, delayMs: number, from: readonly InstanceState[]): Promise<Map<string, InstanceState>> {
    const result = await this.options.db.execute(sql`
      WITH target AS (
        SELECT id, ${STATE} AS state FROM ${si} WHERE ${si.id} = ANY(${sql.param(ids)}::text[]) AND ${this.visible()} FOR UPDATE
      ), moved AS (
        UPDATE ${si} SET phase = ${phase}, phase_at = now(), settles_at = now() + ${delayMs} * interval '1 millisecond'
        FROM target WHERE ${si.id} = target.id AND target.state = ANY(${sql.param([...from])}::text[])
      )
      SELECT id, state FROM target`);
    return new Map((result.rows as { id: string; state: InstanceState }[]).map((r) => [r.id, r.state]));
  }

  /** The instance a machine's create made, visible or not: the create's own answer. */
  private async byClientToken(machineId: string): Promise<SimRow | null> {
    const result = await this.options.db.execute(sql`
      SELECT ${COLUMNS} FROM ${si}
      WHERE ${si.cluster} = ${this.options.cluster} AND ${si.pool} = ${this.options.pool} AND ${si.clientToken} = ${machineId}`);
    return (result.rows[0] as SimRow | undefined) ?? null;
  }

  /** Launched past the consistency window, and not yet out of view after termination. */
  private visible() {
    return sql`${si.launchedAt} <= now() - ${this.settings.faults.consistencyWindowMs} * interval '1 millisecond' AND NOT ${this.expired()}`;
  }

  /** Terminated instances disappear from view after terminatedVisibleS, as on EC2. */
  private expired() {
    return sql`((${si.phase} = 'terminating' AND ${si.settlesAt} < now() - ${this.settings.terminatedVisibleS} * interval '1 second')
        OR coalesce(${si.diesAt} < now() - ${this.settings.terminatedVisibleS} * interval '1 second', false))`;
  }

  /**
   * Deletes the rows of instances out of view. Only housekeeping (every read already hides
   * them), so at most once per PURGE_EVERY_MS: a status poll costs the sim cloud one statement.
   */
  private async purge(): Promise<void> {
    const now = performance.now();
    if (now - this.purgedAt < PURGE_EVERY_MS) return;
    this.purgedAt = now;
    await this.options.db.execute(sql`
      DELETE FROM ${si} WHERE ${si.cluster} = ${this.options.cluster} AND ${si.pool} = ${this.options.pool} AND ${this.expired()}`);
  }

  /**
   * The budget and injected throttling refuse before the operation acts, and a hung call never
   * answers; half the transient
   * errors strike before it too, the other half after it acted (a lost response), which the
   * caller's retry must absorb without redoing it.
   */
  private async faulty<T>(operation: string, charged: SimCallClass | null, act: () => Promise<T>): Promise<T> {
    const f = this.settings.faults;
    if (charged) await this.options.meter?.(charged);
    const refused = charged && this.refusal(operation, charged);
    if (refused) throw refused;
    if (f.hangRate && this.random() < f.hangRate) return new Promise<never>(() => {});
    if (f.throttleRate && this.random() < f.throttleRate) throw throttled(`sim ${operation}: throttled`, 100, { operation, code: 'Throttled' });
    const strike = Boolean(f.transientRate) && this.random() < f.transientRate;
    const before = strike && this.random() < 0.5;
    if (before) throw transient(`sim ${operation}: unavailable`, { operation, code: 'Unavailable' });
    const result = await act();
    const lost = strike || (Boolean(f.lostResponseRate) && this.random() < f.lostResponseRate);
    if (lost) throw transient(`sim ${operation}: internal error, response lost`, { operation, code: 'InternalError' });
    return result;
  }

  /** Spends one call of the class from the account's budget; the throttling error when it is empty. */
  private refusal(operation: string, charged: SimCallClass): ProviderError | null {
    const counts = requestsOf(this.options.cluster);
    counts[charged]++;
    const spent = this.budget?.spend([[charged, 1]]);
    if (!spent || spent.ok) return null;
    counts.throttled++;
    return throttled(`sim ${operation}: the account's ${charged} budget is spent`, spent.retryAfterMs, { operation, code: 'RequestLimitExceeded' });
  }
}

function accountBudget(cluster: string, limits: SimBudget): Budget<SimCallClass> | null {
  const metered = Object.entries(limits).filter(([, limit]) => limit !== undefined);
  if (metered.length === 0) return null;
  const key = JSON.stringify([cluster, metered.sort(([a], [b]) => a.localeCompare(b))]);
  let budget = ACCOUNTS.get(key);
  if (!budget) ACCOUNTS.set(key, (budget = new Budget<SimCallClass>(limits)));
  return budget;
}

function toInstance(row: SimRow): Instance {
  return { providerId: row.id, state: row.state, ip: row.ip, machineId: row.machine_id, launchId: row.launch_id, launchedAt: new Date(row.launched_at) };
}
