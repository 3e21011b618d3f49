// The daemon: config → database (created and migrated) → pools synced → scheduler (workers,
// supervision) → REST API. `stop()` drains: readiness goes 503, running tasks get the shutdown
// grace to finish, what is left is handed back for another daemon or the next start (startup
// recovery) to finish, and then the API closes.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi } from '../api/server.js';
import type { ResolvedConfig } from '../config/load.js';
import { poolDefinition, tenantDefinition } from '../config/load.js';
import { errorMessage, migrateDatabase, openDatabase, ping, redactUrl, type Database } from '../db/index.js';
import { DAEMON_HEARTBEAT_MS, daemonSessionName, markDaemonSeen, markDaemonStopped, registerDaemon, syncPools, syncTenants } from '../machinery/index.js';
import { migrateQueueSchema, type QueueBackend } from '../scheduler/queue.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { HeartbeatBatcher } from '../scheduler/agent/heartbeats.js';
import { IdleMarks } from '../scheduler/agent/idle-marks.js';
import { LeaseNotices } from '../scheduler/agent/lease-notices.js';
import { createMetrics } from './metrics.js';
import { daemonPoolDemand, planPool } from './pool-size.js';
import { startRetention } from './retention.js';

export interface RunningDaemon {
  /** Its row in the daemons table. */
  id: string;
  /** The port the API listens on (useful when the config asks for port 0). */
  port: number;
  scheduler: Scheduler;
  database: Database;
  /** Graceful stop; resolves when everything is closed. */
  stop: () => Promise<void>;
}

export async function startDaemon(config: ResolvedConfig, log: Logger): Promise<RunningDaemon> {
  log.info({ database: redactUrl(config.databaseUrl), queue: config.queue.backend, pools: config.pools.map((p) => p.name) }, 'starting');
  await migrateDatabase({ url: config.databaseUrl });
  // Sized from what the process runs (queue listeners, the leader lock, every handler), never below database.pool_size.
  const poolPlan = planPool(daemonPoolDemand(config));
  log.info({ pool_size: poolPlan.size, needed: poolPlan.needed, configured: poolPlan.configured }, poolPlan.summary);
  // Its sessions carry its id, so `sandfleet daemons ls` can tell which pools' leader locks are its.
  const self = { id: randomUUID(), cluster: config.cluster, host: hostname(), pid: process.pid };
  const database = openDatabase({ url: config.databaseUrl, max: poolPlan.size, applicationName: daemonSessionName(self.id) });
  let api: FastifyInstance | null = null;
  let scheduler: Scheduler | null = null;
  let notices: LeaseNotices | null = null;
  const metrics = createMetrics();
  try {
    if (config.queue.backend === 'postgres') await migrateQueueSchema(database);
    await syncPools(database.db, config.pools.map(poolDefinition));
    await syncTenants(database.db, config.tenants.map(tenantDefinition));
    const backend: QueueBackend = config.queue.backend === 'redis' ? { kind: 'redis', url: config.redisUrl ?? '', prefix: config.queue.prefix } : { kind: 'postgres' };
    const s = config.scheduler;
    const rates = (given: Record<string, { per_second: number; burst: number } | undefined>) =>
      Object.fromEntries(Object.entries(given).flatMap(([bucket, r]) => (r ? [[bucket, { perSecond: r.per_second, burst: r.burst }]] : [])));
    scheduler = new Scheduler({
      database,
      backend,
      cluster: config.cluster,
      actor: `daemon:${process.pid}`,
      runConcurrency: s.run_concurrency,
      machineConcurrency: s.machine_concurrency,
      ...(s.max_machines_total ? { maxMachinesTotal: s.max_machines_total } : {}),
      deadlineGraceS: s.deadline_grace_s,
      superviseEveryMs: s.supervise_every_ms,
      reconcileEveryMs: s.reconcile_every_s * 1000,
      reconcile: { stuckAfterMs: s.stuck_after_s * 1000, leaseGraceMs: s.lease_grace_s * 1000, orphanGraceMs: s.orphan_grace_s * 1000 },
      cloudCallTimeoutMs: s.cloud_call_timeout_s * 1000,
      workerTiming: { lockDurationMs: s.job_lock_s * 1000, stalledIntervalMs: s.job_lock_s * 1000 },
      cloudRateLimits: {
        ...(s.rate_limits.aws ? { aws: rates(s.rate_limits.aws) } : {}),
        ...(s.rate_limits.azure ? { azure: rates(s.rate_limits.azure) } : {}),
        ...(s.rate_limits.sim ? { sim: rates(s.rate_limits.sim) } : {}),
      },
      log: log.child({ component: 'scheduler' }),
      observeTask: metrics.observeTask,
      observeCalls: metrics.observeCall,
      onError: (error) => log.error({ err: error }, 'supervision failed'),
    });
    metrics.bind(database.db, scheduler.deps.queues);
    let stopping = false;
    const queues = scheduler.deps.queues;
    notices = new LeaseNotices(database);
    const idle = new IdleMarks(database.db, notices);
    const claims = scheduler.claims;
    const agentContext = { db: database.db, notices, idle, heartbeats: new HeartbeatBatcher(database.db, HEARTBEAT_BATCH_MS, HEARTBEAT_REFRESH_S), queues, actor: 'agent' };
    api = await buildApi({
      db: database.db,
      queues,
      agent: { context: agentContext, credentials: scheduler.credentials, onRefused: (reason) => metrics.agentRefused(reason) },
      pools: scheduler.deps.lifecycle.pools,
      claimLater: (pool) => claims.request(pool),
      ...(s.max_machines_total ? { maxMachinesTotal: s.max_machines_total } : {}),
      logger: log.child({ component: 'api' }),
      bodyLimit: config.api.body_limit_bytes,
      tokenRequestsPerMinute: config.api.token_requests_per_minute,
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      ready: async () => {
        const checks: Record<string, string> = { shutdown: stopping ? 'draining' : 'ok' };
        checks.database = await probe(() => ping(database.db));
        checks.queue = await probe(() => queues.runs.getJobCounts('waiting'));
        return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
      },
    });
    const address = await api.listen({ host: config.api.host, port: config.api.port, backlog: LISTEN_BACKLOG });
    const port = Number(new URL(address).port);
    scheduler.agentApiUrl = address;
    scheduler.start();
    scheduler.startSupervising();
    await registerDaemon(database.db, self);
    const heartbeat = setInterval(() => void markDaemonSeen(database.db, self.id).catch((error: unknown) => log.warn({ err: error }, 'daemon heartbeat failed')), DAEMON_HEARTBEAT_MS);
    heartbeat.unref();
    const retention = startRetention(database.db, { tasksDays: config.retention.tasks_days, eventsDays: config.retention.events_days }, log.child({ component: 'retention' }));
    log.info({ address, docs: `${address}/docs`, dashboard: `${address}/ui`, daemon_id: self.id }, 'ready');
    const running = scheduler;
    const server = api;
    const leaseNotices = notices;
    return {
      id: self.id,
      port,
      scheduler: running,
      database,
      stop: async () => {
        stopping = true;
        log.info({ grace_s: s.shutdown_grace_s }, 'draining: no new work; running tasks get the shutdown grace');
        // The API stays up through the drain: /readyz answers 503 so balancers move on, and
        // submissions still land in the queue for another daemon or the next start.
        // Each closing step is bounded: a connection lost to a fault must not hold the exit.
        const bounded = (what: string, step: Promise<unknown>, ms = CLOSE_STEP_MS) => within(ms, step).then((done) => done || log.warn({ step: what }, 'gave up waiting on a closing step'));
        const graceMs = s.shutdown_grace_s * 1000;
        await bounded('workers', running.stopWorking({ graceMs }), graceMs + CLOSE_STEP_MS);
        await bounded('api', server.close());
        idle.close();
        await bounded('lease notices', leaseNotices.close());
        await bounded('queues', running.close());
        clearInterval(heartbeat);
        await bounded('retention', retention.stop());
        await bounded('daemon row', markDaemonStopped(database.db, self.id));
        metrics.close();
        await bounded('database', database.close());
        log.info({}, 'stopped');
      },
    };
  } catch (error) {
    await api?.close();
    await notices?.close();
    await scheduler?.close({ graceMs: 0 });
    metrics.close();
    await database.close();
    throw error;
  }
}

/** Agent heartbeats arriving within this long are answered by one statement. */
const HEARTBEAT_BATCH_MS = 1000;
/** A lease's heartbeat row is written at most this often (the shortest heartbeat timeout is 15 s). */
const HEARTBEAT_REFRESH_S = 5;

/**
 * Connections the kernel queues for the API before it accepts them (capped by
 * net.core.somaxconn). Node's default, 511, overflows when thousands of agents reconnect at
 * once (a daemon restart, a fleet coming up): measured at 10,000 agents, 232,599 dropped SYNs
 * and agents failing with connect timeouts and resets while the daemon was 0.3 s behind.
 */
const LISTEN_BACKLOG = 8192;

/** Past the shutdown grace, how long one closing step (API, queues, database pool) may take. */
const CLOSE_STEP_MS = 5000;

/** Whether `step` settled within `ms` (a rejected step counts as settled: it is over). */
function within(ms: number, step: Promise<unknown>): Promise<boolean> {
  return Promise.race([step.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 2s')), 2000).unref())]);
    return 'ok';
  } catch (error) {
    return errorMessage(error);
  }
}
