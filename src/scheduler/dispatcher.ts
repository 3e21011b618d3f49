// Dispatch: queued tasks of a pool claim its ready machines (one batched statement, see
// claimLeases), and each lease gets its run job. Claims happen where work meets capacity: in
// the submission's transaction, in the transaction that makes a machine ready, in the one in
// which a release requeues a task (or right after it, when the pool's claim turn was busy:
// DeferredClaims), and in the reconciler's sweep; no job exists only to call this.
import { claimLeases, type Lease } from '../machinery/index.js';
import type { Db } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import { agentSettingsOf } from './pool-settings.js';
import { withTransaction } from '../db/transaction.js';
import { MAX_LEASES_PER_CLAIM } from './defaults.js';
import { addJobs, runJob, type JobSink, type RunJob } from './queue.js';

/**
 * Gives each lease of the pool its run job, unless agents run the pool's tasks (they learn of
 * their lease from the lease announcement and drive it over the API). A crash between the lease
 * and this enqueue leaves a lease without a run job; the reconciler restores it under the same
 * job id.
 */
export async function startRuns(runs: JobSink<RunJob>, pool: PoolRow, leases: readonly Lease[]): Promise<void> {
  if (leases.length === 0 || agentSettingsOf(pool)) return;
  await addJobs(runs, leases.map((lease) => runJob(lease)));
}

/** Claims what the pool's queued tasks and ready machines allow now; answers the leases made. */
export async function dispatch(db: Db, runs: JobSink<RunJob>, pool: PoolRow, actor: string): Promise<Lease[]> {
  const leases = await withTransaction(db, (tx) => claimLeases(tx, pool.name, MAX_LEASES_PER_CLAIM, actor));
  await startRuns(runs, pool, leases);
  return leases;
}
