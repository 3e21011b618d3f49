// Loads sandfleet.yaml, applies the environment overrides (README, Configuration), and validates the whole:
// every problem is reported at once, each naming its field. Nothing is started on a bad config.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { DEFAULT_DATABASE_URL } from '../db/database.js';
import { findUnstorable } from '../db/storable.js';
import type { PoolDefinition, TenantDefinition } from '../machinery/index.js';
import { awsSettingsSchema } from '../providers/aws/settings.js';
import { azureSettingsSchema } from '../providers/azure/settings.js';
import { simSettingsSchema } from '../providers/sim/settings.js';
import { configSchema, type Config, type PoolConfig, type TenantConfig } from './schema.js';

export { DEFAULT_DATABASE_URL };

export interface ConfigIssue {
  field: string;
  message: string;
  /** The file's line (1-based) where the field is written, when it is. */
  line?: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source} is not valid:\n${issues.map((i) => `  ${i.field}${i.line !== undefined && !i.field.startsWith(YAML_FIELD) ? ` (line ${i.line})` : ''}: ${i.message}`).join('\n')}`);
  }
}

/** How a YAML syntax problem is named in place of a field. */
const YAML_FIELD = '(yaml';

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
  const lines = new LineCounter();
  const document = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (document.errors.length > 0) throw new ConfigError(source, [yamlIssue(document.errors, text)]);
  const issues: ConfigIssue[] = [];
  const file: unknown = document.toJS() ?? {};
  const raw = applyEnvironment(file, env, issues);
  const unstorable = findUnstorable(raw);
  if (unstorable) issues.push({ field: fieldName(unstorable.path), message: unstorable.message });
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    issues.push(
      ...parsed.error.issues.map((i) => {
        const line = lineOf(document, lines, i.path, i.code === 'unrecognized_keys' ? i.keys[0] : undefined);
        return { field: fieldName(i.path), message: i.message, ...(line === undefined ? {} : { line }) };
      }),
    );
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(source, issues);
  const config = parsed.data;
  issues.push(...poolIssues(config.pools), ...totalIssues(config), ...connectionIssues(config, env), ...secretIssues(text, file));
  if (config.queue.backend === 'redis' && !config.queue.redis_url) issues.push({ field: 'queue.redis_url', message: 'queue.backend is redis: set REDIS_URL (for example redis://127.0.0.1:6379)' });
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { ...config, source, databaseUrl: config.database.url ?? DEFAULT_DATABASE_URL, redisUrl: config.queue.redis_url ?? null };
}

/**
 * The first YAML error only: one misplaced line (a wrong indentation) makes the parser misread
 * every line after it, and the errors that follow are echoes of the first.
 */
function yamlIssue(errors: readonly YAMLError[], text: string): ConfigIssue {
  const [first] = errors;
  const line = first?.linePos?.[0]?.line;
  const what = (first?.message.split('\n')[0] ?? 'not valid YAML').replace(/ at line \d+, column \d+:?$/, '');
  const written = line === undefined ? undefined : text.split(/\r?\n/)[line - 1]?.trimEnd();
  const indentation = first && ['BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY', 'MISSING_CHAR'].includes(first.code);
  const message = [
    what,
    written === undefined ? '' : `: ${JSON.stringify(written)}`,
    indentation ? '; check its indentation against the lines around it' : '',
    errors.length > 1 ? ` (fix this first: the ${errors.length - 1} other YAML error(s) after it most likely follow from it)` : '',
  ].join('');
  return { field: `${YAML_FIELD}, line ${line ?? '?'})`, message, ...(line === undefined ? {} : { line }) };
}

/** The line of the key that names a field (or of an unknown key in it), else of the nearest enclosing field written in the file. */
function lineOf(document: Document, lines: LineCounter, path: readonly PropertyKey[], unknownKey?: string): number | undefined {
  const target = unknownKey === undefined ? path : [...path, unknownKey];
  for (let depth = target.length; depth > 0; depth--) {
    const parent = depth === 1 ? document.contents : document.getIn(target.slice(0, depth - 1), true);
    const key = target[depth - 1];
    const node = isMap(parent) ? parent.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.key : isSeq(parent) && typeof key === 'number' ? parent.items[key] : undefined;
    const start = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (start !== undefined) return lines.linePos(start).line;
  }
  return undefined;
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

/** Where each connection URL may come from: the file's field, or the variable that overrides it. */
const CONNECTIONS = [
  { section: 'database', key: 'url', variable: 'DATABASE_URL', protocols: ['postgres:', 'postgresql:'], example: 'postgres://USER@HOST:5432/DATABASE' },
  { section: 'queue', key: 'redis_url', variable: 'REDIS_URL', protocols: ['redis:', 'rediss:'], example: 'redis://HOST:6379' },
] as const;

/** A connection URL that is not one (`DATABASE_URL=garbage`) is refused here, naming where it came from, not later as a bare "Invalid URL". */
function connectionIssues(config: Config, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const c of CONNECTIONS) {
    const value = c.section === 'database' ? config.database.url : config.queue.redis_url;
    if (value === undefined) continue;
    const where = env[c.variable]?.trim() ? c.variable : `${c.section}.${c.key}`;
    let protocol: string | null = null;
    try {
      protocol = new URL(value).protocol;
    } catch {
      // Not echoed: it may hold a password.
    }
    if (protocol === null || !(c.protocols as readonly string[]).includes(protocol)) {
      issues.push({ field: where, message: `is not a ${c.protocols[0].slice(0, -1)} URL; expected ${c.example}${protocol ? ` (its scheme is ${protocol.slice(0, -1)})` : ''}` });
    }
  }
  return issues;
}

/** Pairs across the config that bound one another. */
function totalIssues(config: Config): ConfigIssue[] {
  const cap = config.scheduler.max_machines_total;
  const warm = config.pools.reduce((sum, p) => sum + p.min_ready, 0);
  if (cap === undefined || warm <= cap) return [];
  return [{ field: 'scheduler.max_machines_total', message: `the pools' min_ready add up to ${warm}, more than scheduler.max_machines_total (${cap}); lower a min_ready or raise the total` }];
}

/** Credentials belong in the environment (or the clouds' own credential chains), never in the file. */
function secretIssues(text: string, file: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const passwordIn = (url: unknown) => typeof url === 'string' && URL_WITH_PASSWORD.test(url);
  let named = false;
  for (const c of CONNECTIONS) {
    if (!passwordIn(valueAt(file, c.section, c.key))) continue;
    named = true;
    issues.push({ field: `${c.section}.${c.key}`, message: `carries a password: remove the URL from the file and give it whole in ${c.variable} instead` });
  }
  // Anywhere else (a comment, another field): the line says where.
  if (!named && URL_WITH_PASSWORD.test(text)) {
    const line = text.slice(0, text.search(URL_WITH_PASSWORD)).split('\n').length;
    issues.push({ field: '(file)', line, message: `line ${line} holds a URL with a password: passwords go in DATABASE_URL or REDIS_URL, never in the file` });
  }
  if (/(AKIA|ASIA)[0-9A-Z]{16}/.test(text) || /\b(secret|password|client_secret|access_key)\s*:/i.test(text)) {
    issues.push({ field: '(file)', message: 'looks like it holds a credential: sandfleet reads AWS and Azure credentials from their default chains, never from the config' });
  }
  return issues;
}

const URL_WITH_PASSWORD = /\b(postgres(ql)?|rediss?):\/\/[^/\s:@]*:[^@\s]+@/;

function valueAt(raw: unknown, section: string, key: string): unknown {
  const part = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[section] : undefined;
  return typeof part === 'object' && part !== null ? (part as Record<string, unknown>)[key] : undefined;
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
