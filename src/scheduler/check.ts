// The invariant checker of the running system (`sandfleet check`, the chaos harness): the
// database invariants (I1, I2, I3, I6, I7, I8, from src/machinery), plus the two that need the
// clock and the clouds: I4 (no active task past its deadline plus the grace) and I5 (no
// instance without a row past the orphan grace, no ready or leased row without its instance).
// Memory: the database invariants are bounded by their batch and the per-invariant limit (see
// src/machinery/invariants.ts); I4 reads the overdue active tasks and I5 a pool's machine rows
// and its instance list: bounded by the fleet (rows alive, tasks running), never by history.
import type { Db } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import { CappedViolations, databaseNow, findViolations, listMachines, listPools, overdueTasks, rowCounts, VIOLATION_LIMIT, type InvariantId } from '../machinery/index.js';
import { isProviderError } from '../providers/errors.js';
import type { Instance, Provider } from '../providers/types.js';

export type SystemInvariant = InvariantId | 'I4' | 'I5';

export interface SystemViolation {
  invariant: SystemInvariant;
  ids: string[];
  detail: string;
}

export interface CheckOptions {
  db: Db;
  /** The adapter of a pool (a ProviderRegistry's `for`); asked for only once the database checks are done. */
  providerFor: (pool: PoolRow) => Provider | Promise<Provider>;
  /** I4: an active task may run this long past started_at + timeout_s before it counts. */
  deadlineGraceS: number;
  /** I5: how long an instance may live without a row, or a row without its instance. */
  orphanGraceS: number;
  pool?: string | undefined;
  now?: Date;
  /** At most this many violations of each invariant are listed (VIOLATION_LIMIT); the rest are counted in `omitted`. */
  limit?: number;
}

export interface CheckReport {
  violations: SystemViolation[];
  /** Per invariant, the violations found past the limit: counted, not listed. */
  omitted: Partial<Record<SystemInvariant, number>>;
  /** Pools whose instances could not be listed: I5 is unknown for them. */
  unchecked: { pool: string; reason: string }[];
  checked: { pools: number; machines: number; tasks: number; instances: number };
}

export async function checkSystem(options: CheckOptions): Promise<CheckReport> {
  // Deadlines and graces are the database's: its timestamps are what they are measured from.
  const now = options.now ?? (await databaseNow(options.db));
  const pools = (await listPools(options.db)).filter((p) => options.pool === undefined || p.name === options.pool);
  const found = new CappedViolations<SystemInvariant, SystemViolation>(options.limit ?? VIOLATION_LIMIT);
  const unchecked: CheckReport['unchecked'] = [];
  const checked = { pools: pools.length, machines: 0, tasks: 0, instances: 0 };
  const database = await findViolations(options.db, { pool: options.pool }, { limit: found.limit });
  for (const v of database.violations) found.add(v);
  for (const [invariant, n] of Object.entries(database.omitted) as [InvariantId, number][]) found.omit(invariant, n);
  for (const v of await pastDeadline(options.db, options.deadlineGraceS, now, options.pool)) found.add(v);
  for (const pool of pools) {
    const instances = await listInstances(await options.providerFor(pool));
    if (!Array.isArray(instances)) {
      unchecked.push({ pool: pool.name, reason: instances.reason });
      continue;
    }
    checked.instances += instances.length;
    for (const v of await instanceLeaks(options.db, pool.name, instances, options.orphanGraceS * 1000, now)) found.add(v);
  }
  const counts = await rowCounts(options.db, options.pool);
  checked.machines = counts.machines;
  checked.tasks = counts.tasks;
  return { violations: found.violations, omitted: found.omitted, unchecked, checked };
}

/** I4: assigned or running past (started_at, else assigned_at) + timeout_s + grace. */
async function pastDeadline(db: Db, graceS: number, now: Date, pool: string | undefined): Promise<SystemViolation[]> {
  return (await overdueTasks(db, pool, graceS, now)).map((t) => ({
    invariant: 'I4' as const,
    ids: [t.id, ...(t.machineId ? [t.machineId] : [])],
    detail: `task ${t.id} is still ${t.state} past its deadline (timeout ${t.timeoutS} s + grace ${graceS} s since ${(t.startedAt ?? t.assignedAt)?.toISOString() ?? '?'})`,
  }));
}

/** The pool's instances, retrying throttling and transient errors a few times. */
async function listInstances(provider: Provider): Promise<Instance[] | { reason: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await provider.list();
    } catch (error) {
      const retry = isProviderError(error) && error.retryable && attempt < 5;
      if (!retry) return { reason: error instanceof Error ? error.message : String(error) };
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
  }
}

/** I5 for one pool: live instances no row claims, and ready/leased rows whose instance is gone. */
async function instanceLeaks(db: Db, pool: string, instances: Instance[], graceMs: number, now: Date): Promise<SystemViolation[]> {
  const found: SystemViolation[] = [];
  const rows = await listMachines(db, { pool });
  const byProviderId = new Map(rows.filter((m) => m.providerId).map((m) => [m.providerId!, m]));
  const byId = new Map(rows.map((m) => [m.id, m]));
  // A launch's instances carry no machine id: a member still provisioning claims its own.
  const launching = new Map(rows.filter((m) => m.state === 'provisioning' && m.launchId).map((m) => [m.launchId!, m]));
  const old = (since: Date | null) => since !== null && now.getTime() - since.getTime() > graceMs;
  const alive = instances.filter((i) => i.state !== 'terminated' && i.state !== 'terminating');
  for (const instance of alive) {
    // A row is deleted only by its finalizer, once its instance is gone ('deleted' is the last
    // event, never a row's state): an instance is unclaimed exactly when no row holds it.
    const row = byProviderId.get(instance.providerId) ?? (instance.machineId ? byId.get(instance.machineId) : undefined) ?? (instance.launchId ? launching.get(instance.launchId) : undefined);
    if (!row && old(instance.launchedAt)) {
      found.push({
        invariant: 'I5',
        ids: [instance.providerId],
        detail: `instance ${instance.providerId} of pool ${pool} is ${instance.state} and no machine row holds it (launched ${instance.launchedAt?.toISOString() ?? '?'})`,
      });
    }
  }
  const live = new Set(alive.map((i) => i.providerId));
  for (const machine of rows) {
    if ((machine.state === 'ready' || machine.state === 'leased') && machine.providerId && !live.has(machine.providerId) && old(machine.stateChangedAt)) {
      found.push({ invariant: 'I5', ids: [machine.id], detail: `machine ${machine.id} is ${machine.state} but its instance ${machine.providerId} is gone` });
    }
  }
  return found;
}
