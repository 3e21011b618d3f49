// The config file's shape (sandfleet.yaml), validated with messages that name the field. Our own
// keys are snake_case; a pool's `settings` go to its provider adapter as written, in the
// adapter's field names, and are validated by the adapter's schema (see src/providers/*/settings.ts).
import { z } from 'zod';
import { PLATFORMS, PROVIDERS, RECYCLE_MODES, TENANT_NAME_PATTERN } from '../db/states.js';
import { API_DEFAULTS } from '../api/defaults.js';
import { RETENTION_DEFAULTS as R, SCHEDULER_DEFAULTS as D } from '../scheduler/defaults.js';
import { AUTOSCALE_LIMITS } from '../scheduler/policies/registry.js';
import { passthroughName } from '../scheduler/runners/command-runner.js';
import { SIM_RUNNER_DEFAULTS } from '../scheduler/runners/sim-runner.js';

/** The cluster a config names when it names none. */
export const DEFAULT_CLUSTER = 'sandfleet';

const count = z.number().int().min(0);
const positive = z.number().int().min(1);
const rateLimit = z.object({ per_second: z.number().positive(), burst: positive }).strict();
/** A provider's request buckets, each optional, by the cloud's own names. */
const buckets = (names: readonly string[]) =>
  z
    .object(Object.fromEntries(names.map((name) => [name, rateLimit.optional()])))
    .strict()
    .optional();

const runner = z.discriminatedUnion('kind', [
  z
    .object({ kind: z.literal('sim'), min_duration_ms: count.optional(), max_duration_ms: count.optional(), fail_rate: z.number().min(0).max(1).optional() })
    .strict()
    // Either bound may be left to its default, which then counts.
    .superRefine((r, ctx) => {
      const min = r.min_duration_ms ?? SIM_RUNNER_DEFAULTS.minDurationMs;
      const max = r.max_duration_ms ?? SIM_RUNNER_DEFAULTS.maxDurationMs;
      if (min <= max) return;
      const given = (key: string, value: number, fallback: boolean) => `${key} (${value}${fallback ? ', its default' : ''})`;
      ctx.addIssue({
        code: 'custom',
        path: [r.min_duration_ms === undefined ? 'max_duration_ms' : 'min_duration_ms'],
        message: `${given('min_duration_ms', min, r.min_duration_ms === undefined)} must not exceed ${given('max_duration_ms', max, r.max_duration_ms === undefined)}`,
      });
    }),
  z
    .object({
      kind: z.literal('command'),
      command: z.string().min(1),
      args: z.array(z.string()).optional(),
      kill_grace_ms: count.max(60_000).optional(),
      env_passthrough: z.array(passthroughName).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('agent'),
      heartbeat_timeout_s: positive.min(15).max(3600).optional(),
      api_url: z.url('api_url must be a URL agents can reach, for example http://10.0.0.5:8080').optional(),
    })
    .strict(),
]);

const port = z.number().int().min(1).max(65_535);
const readiness = z
  .object({
    boot_timeout_s: positive.max(86_400).optional(),
    probe: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('tcp'), port }).strict(),
        z.object({ kind: z.literal('http'), port, path: z.string().startsWith('/', 'path must start with /').optional() }).strict(),
      ])
      .optional(),
    probe_timeout_ms: positive.max(60_000).optional(),
  })
  .strict();

/** How the pool is scaled; the ranges are the registry's, which checks the row the same way. */
const { cover, bootS, intervalS, overprovision } = AUTOSCALE_LIMITS;
const autoscale = z.discriminatedUnion('policy', [
  z.object({ policy: z.literal('demand') }).strict(),
  z.object({ policy: z.literal('forecast'), cover: z.number().min(cover.min).max(cover.max).optional(), boot_s: z.number().int().min(bootS.min).max(bootS.max).optional() }).strict(),
  z.object({ policy: z.literal('keep-alive') }).strict(),
  z.object({ policy: z.literal('on-demand') }).strict(),
  z
    .object({
      policy: z.literal('leaky-bucket'),
      interval_s: z.number().int().min(intervalS.min).max(intervalS.max).optional(),
      overprovision: z.number().min(overprovision.min).max(overprovision.max).optional(),
    })
    .strict(),
]);

export const poolConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, at most 63, starting with a letter or digit'),
    provider: z.enum(PROVIDERS),
    platform: z.enum(PLATFORMS).default('linux'),
    arch: z.string().min(1).default('x86_64'),
    tags: z.array(z.string().min(1)).default([]),
    min_ready: count.default(0),
    max_size: count,
    max_uses: positive.nullable().default(null),
    idle_timeout_s: count.default(600),
    recycle: z.enum(RECYCLE_MODES).default('delete'),
    settings: z.record(z.string(), z.unknown()).default({}),
    runner: runner.default({ kind: 'sim' }),
    readiness: readiness.default({}),
    autoscale: autoscale.default({ policy: 'forecast' }),
    /** What one machine costs per hour, in any currency: the on-demand or the spot price, whichever the pool buys. */
    price_per_hour: z.number().min(0).max(1_000_000).optional(),
  })
  .strict()
  .refine((p) => p.min_ready <= p.max_size, { message: 'min_ready must not exceed max_size (the pool could never keep that many warm)', path: ['min_ready'] });

/** A tenant: its share of busy pools and its limits. Tenants not listed get weight 1 and no limits. */
export const tenantConfig = z
  .object({
    name: z.string().regex(TENANT_NAME_PATTERN, 'lowercase letters, digits and dashes, at most 63, starting with a letter or digit'),
    /** Its share of a busy pool's leases against other tenants with queued work (1-1000). */
    weight: positive.max(1000).default(1),
    /** Submissions past this many queued tasks are refused with 429 and Retry-After. */
    max_queued: count.optional(),
    /** At most this many of its tasks hold machines at once, over every pool; the rest wait queued. */
    max_running: count.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    /** Tags every cloud resource; daemons of one cluster share pools and work. */
    cluster: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'lowercase letters, digits and dashes, at most 31').default(DEFAULT_CLUSTER),
    database: z
      // pool_size is a floor: the daemon raises it to what its queues, leader lock and handlers need (src/daemon/pool-size.ts).
      .object({ url: z.string().min(1).optional(), pool_size: positive.max(200).default(20) })
      .strict()
      .default({ pool_size: 20 }),
    queue: z
      .object({ backend: z.enum(['postgres', 'redis']).default('postgres'), redis_url: z.string().optional(), prefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('sandfleet') })
      .strict()
      .default({ backend: 'postgres', prefix: 'sandfleet' }),
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8080),
        body_limit_bytes: positive.default(API_DEFAULTS.bodyLimitBytes),
        token_requests_per_minute: positive.default(API_DEFAULTS.tokenRequestsPerMinute),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080, body_limit_bytes: API_DEFAULTS.bodyLimitBytes, token_requests_per_minute: API_DEFAULTS.tokenRequestsPerMinute }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    scheduler: z
      .object({
        run_concurrency: positive.max(1000).default(D.runConcurrency),
        machine_concurrency: positive.max(1000).default(D.machineConcurrency),
        max_machines_total: positive.optional(),
        deadline_grace_s: count.default(D.deadlineGraceS),
        /** How long SIGTERM waits for running tasks before handing them back. */
        shutdown_grace_s: count.max(3600).default(D.shutdownGraceS),
        supervise_every_ms: positive.default(D.superviseEveryMs),
        reconcile_every_s: positive.default(D.reconcileEveryS),
        stuck_after_s: positive.default(D.stuckAfterS),
        /** A leased task whose run job is missing this long gets it back (reconciler). */
        lease_grace_s: positive.default(D.leaseGraceS),
        /** BullMQ job lock: a job whose worker died is taken over after about this long. */
        job_lock_s: positive.max(3600).default(D.jobLockS),
        orphan_grace_s: positive.default(D.orphanGraceS),
        /** A cloud call unanswered this long ends as a transient error and is retried. */
        cloud_call_timeout_s: positive.max(3600).default(D.cloudCallTimeoutMs / 1000),
        /** sandfleet's request budget per provider account and bucket; buckets given replace the documented defaults. */
        rate_limits: z
          .object({
            aws: buckets(['RunInstances', 'DescribeInstances', 'DescribeInstances:unfiltered', 'StopInstances', 'TerminateInstances']),
            azure: buckets(['reads', 'writes', 'deletes']),
            sim: buckets(['create', 'describe', 'stop', 'delete', 'reimage']),
          })
          .strict()
          .default({}),
      })
      .strict()
      .prefault({}),
    /** Finished tasks (with their events) and old events of machines and tasks gone are deleted after so many days. */
    retention: z
      .object({ tasks_days: positive.max(36_500).default(R.tasksDays), events_days: positive.max(36_500).default(R.eventsDays) })
      .strict()
      .prefault({}),
    tenants: z
      .array(tenantConfig)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((tenant, i) => {
          if (seen.has(tenant.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `tenant "${tenant.name}" is declared twice` });
          seen.add(tenant.name);
        });
      }),
    pools: z.array(poolConfig).min(1, 'declare at least one pool'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type PoolConfig = z.infer<typeof poolConfig>;
export type TenantConfig = z.infer<typeof tenantConfig>;
