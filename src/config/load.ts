// Loads sandfleet.yaml, applies the environment overrides (README, Configuration), and validates the whole:
// every problem is reported at once, each naming its field. Nothing is started on a bad config.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { findUnstorable } from '../db/storable.js';
import type { PoolDefinition, TenantDefinition } from '../machinery/index.js';
import { awsSettingsSchema } from '../providers/aws/settings.js';
import { azureSettingsSchema } from '../providers/azure/settings.js';
import { simSettingsSchema } from '../providers/sim/settings.js';
import { configSchema, type Config, type PoolConfig, type TenantConfig } from './schema.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/sandfleet';

export interface ConfigIssue {
  field: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source} is not valid:\n${issues.map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
  }
}

/** The validated config plus what the environment decided. */
export interface ResolvedConfig extends Config {
  source: string;
  databaseUrl: string;
  redisUrl: string | null;
}

export function configPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.SANDFLEET_CONFIG ?? 'sandfleet.yaml';
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (copy sandfleet.example.yaml, or pass --config)' : String(error);
    throw new ConfigError(path, [{ field: '(file)', message: reason }]);
  }
  return parseConfig(text, path, env);
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(source, document.errors.map((e) => ({ field: `(yaml, line ${e.linePos?.[0]?.line ?? '?'})`, message: e.message.split('\n')[0] ?? e.message })));
  }
  const issues: ConfigIssue[] = [];
  const raw = applyEnvironment(document.toJS() ?? {}, env, issues);
  const unstorable = findUnstorable(raw);
  if (unstorable) issues.push({ field: fieldName(unstorable.path), message: unstorable.message });
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) issues.push(...parsed.error.issues.map((i) => ({ field: fieldName(i.path), message: i.message })));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(source, issues);
  const config = parsed.data;
  issues.push(...poolIssues(config.pools), ...secretIssues(text));
  if (config.queue.backend === 'redis' && !config.queue.redis_url) issues.push({ field: 'queue.redis_url', message: 'queue.backend is redis: set REDIS_URL (for example redis://127.0.0.1:6379)' });
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { ...config, source, databaseUrl: config.database.url ?? DEFAULT_DATABASE_URL, redisUrl: config.queue.redis_url ?? null };
}

/** DATABASE_URL, REDIS_URL, SANDFLEET_PORT and SANDFLEET_LOG_LEVEL win over the file. */
function applyEnvironment(raw: unknown, env: NodeJS.ProcessEnv, issues: ConfigIssue[]): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out = { ...(raw as Record<string, unknown>) };
  const section = (name: string): Record<string, unknown> => {
    const current = out[name];
    const copy = typeof current === 'object' && current !== null && !Array.isArray(current) ? { ...(current as Record<string, unknown>) } : {};
    out[name] = copy;
    return copy;
  };
  if (env.DATABASE_URL?.trim()) section('database').url = env.DATABASE_URL.trim();
  if (env.REDIS_URL?.trim()) section('queue').redis_url = env.REDIS_URL.trim();
  if (env.SANDFLEET_LOG_LEVEL?.trim()) section('log').level = env.SANDFLEET_LOG_LEVEL.trim();
  if (env.SANDFLEET_PORT?.trim()) {
    const port = Number(env.SANDFLEET_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) issues.push({ field: 'SANDFLEET_PORT', message: `must be a port number 0-65535, got "${env.SANDFLEET_PORT}"` });
    else section('api').port = port;
  }
  return out;
}

const PROVIDER_SETTINGS: Record<PoolConfig['provider'], z.ZodType> = { sim: simSettingsSchema, aws: awsSettingsSchema, azure: azureSettingsSchema };

function poolIssues(pools: PoolConfig[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  pools.forEach((pool, i) => {
    if (seen.has(pool.name)) issues.push({ field: `pools[${i}].name`, message: `pool "${pool.name}" is declared twice` });
    seen.add(pool.name);
    const settings = PROVIDER_SETTINGS[pool.provider].safeParse(pool.settings);
    if (!settings.success) issues.push(...settings.error.issues.map((s) => ({ field: fieldName([`pools[${i}]`, 'settings', ...s.path]), message: s.message })));
    if (pool.recycle === 'reimage' && pool.provider === 'aws') issues.push({ field: `pools[${i}].recycle`, message: 'aws instances cannot be reimaged; use recycle: delete' });
    if (pool.runner.kind === 'agent' && pool.provider === 'azure') {
      issues.push({ field: `pools[${i}].runner.kind`, message: 'agent pools hand each machine its own credential in user data, which uniform scale set instances cannot have; use an aws or sim pool, or the command runner' });
    }
  });
  return issues;
}

/** Credentials belong in the environment (or the clouds' own credential chains), never in the file. */
function secretIssues(text: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (/\b(postgres(ql)?|rediss?):\/\/[^/\s:@]*:[^@\s]+@/.test(text)) issues.push({ field: 'database.url / queue.redis_url', message: 'a URL in the file carries a password: move it to DATABASE_URL or REDIS_URL' });
  if (/(AKIA|ASIA)[0-9A-Z]{16}/.test(text) || /\b(secret|password|client_secret|access_key)\s*:/i.test(text)) {
    issues.push({ field: '(file)', message: 'looks like it holds a credential: sandfleet reads AWS and Azure credentials from their default chains, never from the config' });
  }
  return issues;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)), '') || '(root)';
}

/** A configured tenant as the table row's definition. */
export function tenantDefinition(tenant: TenantConfig): TenantDefinition {
  return { name: tenant.name, weight: tenant.weight, maxQueued: tenant.max_queued ?? null, maxRunning: tenant.max_running ?? null };
}

/** A configured pool as the table row's definition (runner and readiness in the scheduler's terms). */
export function poolDefinition(pool: PoolConfig): PoolDefinition {
  const r = pool.runner;
  const runner =
    r.kind === 'sim'
      ? compact({ kind: 'sim', minDurationMs: r.min_duration_ms, maxDurationMs: r.max_duration_ms, failRate: r.fail_rate })
      : r.kind === 'command'
        ? compact({ kind: 'command', command: r.command, args: r.args, killGraceMs: r.kill_grace_ms, envPassthrough: r.env_passthrough })
        : compact({ kind: 'agent', heartbeatTimeoutS: r.heartbeat_timeout_s, apiUrl: r.api_url });
  const probe = pool.readiness.probe;
  return {
    name: pool.name,
    provider: pool.provider,
    settings: pool.settings,
    platform: pool.platform,
    arch: pool.arch,
    tags: pool.tags,
    minReady: pool.min_ready,
    maxSize: pool.max_size,
    maxUses: pool.max_uses,
    idleTimeoutS: pool.idle_timeout_s,
    recycle: pool.recycle,
    runner,
    autoscale: autoscaleDefinition(pool.autoscale),
    pricePerHour: pool.price_per_hour ?? null,
    readiness: compact({
      bootTimeoutS: pool.readiness.boot_timeout_s,
      probeTimeoutMs: pool.readiness.probe_timeout_ms,
      probe: probe && (probe.kind === 'tcp' ? probe : compact({ kind: 'http', port: probe.port, path: probe.path })),
    }),
  };
}

function autoscaleDefinition(a: PoolConfig['autoscale']): Record<string, unknown> {
  switch (a.policy) {
    case 'forecast':
      return compact({ policy: a.policy, cover: a.cover, bootS: a.boot_s });
    case 'leaky-bucket':
      return compact({ policy: a.policy, intervalS: a.interval_s, overprovision: a.overprovision });
    default:
      return { policy: a.policy };
  }
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
