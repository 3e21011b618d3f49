// The config file and its environment overrides: each malformed config is refused with a
// ConfigError naming the field and what is wrong; nothing else is accepted in its place.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ConfigError, DEFAULT_DATABASE_URL, loadConfig, parseConfig } from '../../src/config/load.js';

const EXAMPLE_PATH = path.resolve(import.meta.dirname, '../../sandfleet.example.yaml');
const EXAMPLE = readFileSync(EXAMPLE_PATH, 'utf8');
// Built at run time: as a literal it would (rightly) trip the tracked-files credential scan.
const FAKE_ACCESS_KEY_ID = ['AKIA', 'ABCDEFGHIJKLMNOP'].join('');

/** The example config with one change applied to its parsed form. */
function variant(change: (c: any) => void): string {
  const config = parse(EXAMPLE);
  change(config);
  return stringify(config);
}

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): { field: string; message: string }[] {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('the config was accepted');
}

interface Case {
  name: string;
  text: string;
  env?: NodeJS.ProcessEnv;
  field: string;
  message: RegExp;
}

const cases: Case[] = [
  { name: 'YAML syntax error', text: 'cluster: [unclosed\npools: []', field: '(yaml, line', message: /./ },
  { name: 'no pools', text: variant((c) => (c.pools = [])), field: 'pools', message: /at least one pool/ },
  { name: 'pools missing', text: variant((c) => delete c.pools), field: 'pools', message: /expected array/ },
  { name: 'unknown top-level key', text: variant((c) => (c.clustr = 'x')), field: '(root)', message: /clustr/ },
  { name: 'unknown pool key', text: variant((c) => (c.pools[0].max_sise = 3)), field: 'pools[0]', message: /max_sise/ },
  { name: 'cluster with capitals', text: variant((c) => (c.cluster = 'Dev')), field: 'cluster', message: /lowercase/ },
  { name: 'pool name with spaces', text: variant((c) => (c.pools[1].name = 'my pool')), field: 'pools[1].name', message: /lowercase/ },
  { name: 'duplicate pool name', text: variant((c) => (c.pools[1].name = c.pools[0].name)), field: 'pools[1].name', message: /declared twice/ },
  { name: 'unknown provider', text: variant((c) => (c.pools[0].provider = 'gcp')), field: 'pools[0].provider', message: /sim|aws|azure/ },
  { name: 'max_size a string', text: variant((c) => (c.pools[0].max_size = 'five')), field: 'pools[0].max_size', message: /number/ },
  { name: 'max_size negative', text: variant((c) => (c.pools[0].max_size = -1)), field: 'pools[0].max_size', message: />=\s*0/ },
  { name: 'min_ready above max_size', text: variant((c) => (c.pools[0].min_ready = 9)), field: 'pools[0].min_ready', message: /must not exceed max_size/ },
  { name: 'max_uses zero', text: variant((c) => (c.pools[0].max_uses = 0)), field: 'pools[0].max_uses', message: />=\s*1/ },
  { name: 'unknown recycle mode', text: variant((c) => (c.pools[0].recycle = 'recycle')), field: 'pools[0].recycle', message: /delete|reimage/ },
  { name: 'aws pool reimaged', text: variant((c) => (c.pools[0] = { ...c.pools[0], provider: 'aws', settings: { region: 'eu-west-1', imageId: 'ami-0abc', instanceType: 't3.micro' } }, c.pools[0].recycle = 'reimage')), field: 'pools[0].recycle', message: /cannot be reimaged/ },
  { name: 'sim settings: unknown field', text: variant((c) => (c.pools[0].settings.bootDelay = 5)), field: 'pools[0].settings', message: /bootDelay/ },
  { name: 'sim settings: wrong type', text: variant((c) => (c.pools[0].settings.bootDelayMs = 'slow')), field: 'pools[0].settings.bootDelayMs', message: /number/ },
  { name: 'aws settings missing', text: variant((c) => (c.pools[0] = { name: 'ec2', provider: 'aws', max_size: 2 })), field: 'pools[0].settings', message: /region is required/ },
  { name: 'runner kind unknown', text: variant((c) => (c.pools[0].runner = { kind: 'ssh' })), field: 'pools[0].runner.kind', message: /sim|command/ },
  { name: 'command runner without command', text: variant((c) => (c.pools[0].runner = { kind: 'command' })), field: 'pools[0].runner.command', message: /string/ },
  { name: 'fail_rate above 1', text: variant((c) => (c.pools[0].runner.fail_rate = 2)), field: 'pools[0].runner.fail_rate', message: /<=\s*1/ },
  { name: 'probe port out of range', text: variant((c) => (c.pools[0].readiness.probe = { kind: 'tcp', port: 70_000 })), field: 'pools[0].readiness.probe.port', message: /65535/ },
  { name: 'http probe path without slash', text: variant((c) => (c.pools[0].readiness.probe = { kind: 'http', port: 80, path: 'health' })), field: 'pools[0].readiness.probe.path', message: /start with \// },
  { name: 'autoscale policy unknown', text: variant((c) => (c.pools[0].autoscale = { policy: 'magic' })), field: 'pools[0].autoscale.policy', message: /forecast/ },
  { name: 'autoscale cover out of range', text: variant((c) => (c.pools[0].autoscale = { policy: 'forecast', cover: 1.5 })), field: 'pools[0].autoscale.cover', message: /0\.999/ },
  { name: 'price negative', text: variant((c) => (c.pools[0].price_per_hour = -0.1)), field: 'pools[0].price_per_hour', message: /0/ },
  { name: 'autoscale setting of another policy', text: variant((c) => (c.pools[0].autoscale = { policy: 'demand', cover: 0.9 })), field: 'pools[0].autoscale', message: /cover/ },
  {
    name: 'a credential passed through to analyses',
    text: variant((c) => (c.pools[0].runner = { kind: 'command', command: '/usr/local/bin/analyse', env_passthrough: ['LC_ALL', 'DATABASE_URL'] })),
    field: 'pools[0].runner.env_passthrough[1]',
    message: /DATABASE_URL holds .*credential/,
  },
  {
    name: 'a token-named variable passed through',
    text: variant((c) => (c.pools[0].runner = { kind: 'command', command: '/usr/local/bin/analyse', env_passthrough: ['GITHUB_TOKEN'] })),
    field: 'pools[0].runner.env_passthrough[0]',
    message: /GITHUB_TOKEN holds/,
  },
  { name: 'NUL in a tag', text: variant((c) => (c.pools[0].tags = ['ok', 'a\u0000b'])), field: 'pools[0].tags[1]', message: /NUL/ },
  { name: 'tenant name with capitals', text: variant((c) => (c.tenants = [{ name: 'Team' }])), field: 'tenants[0].name', message: /lowercase/ },
  { name: 'duplicate tenant name', text: variant((c) => (c.tenants = [{ name: 'a' }, { name: 'a' }])), field: 'tenants[1].name', message: /declared twice/ },
  { name: 'tenant weight zero', text: variant((c) => (c.tenants = [{ name: 'a', weight: 0 }])), field: 'tenants[0].weight', message: />=\s*1/ },
  { name: 'tenant max_running negative', text: variant((c) => (c.tenants = [{ name: 'a', max_running: -1 }])), field: 'tenants[0].max_running', message: />=\s*0/ },
  { name: 'unknown tenant key', text: variant((c) => (c.tenants = [{ name: 'a', max_queue: 5 }])), field: 'tenants[0]', message: /max_queue/ },
  { name: 'api port out of range', text: variant((c) => (c.api.port = 99_999)), field: 'api.port', message: /65535/ },
  { name: 'log level unknown', text: variant((c) => (c.log.level = 'verbose')), field: 'log.level', message: /info/ },
  { name: 'queue backend unknown', text: variant((c) => (c.queue.backend = 'kafka')), field: 'queue.backend', message: /postgres|redis/ },
  { name: 'redis backend without REDIS_URL', text: variant((c) => (c.queue.backend = 'redis')), field: 'queue.redis_url', message: /set REDIS_URL/ },
  { name: 'shutdown grace above an hour', text: variant((c) => (c.scheduler.shutdown_grace_s = 7200)), field: 'scheduler.shutdown_grace_s', message: /3600/ },
  { name: 'rate limit without burst', text: variant((c) => (c.scheduler.rate_limits = { aws: { RunInstances: { per_second: 5 } } })), field: 'scheduler.rate_limits.aws.RunInstances.burst', message: /number/ },
  { name: 'rate limit of an unknown bucket', text: variant((c) => (c.scheduler.rate_limits = { aws: { per_second: 5, burst: 1 } })), field: 'scheduler.rate_limits.aws', message: /per_second/ },
  { name: 'pool_size a float', text: variant((c) => (c.database.pool_size = 2.5)), field: 'database.pool_size', message: /int/ },
  { name: 'password in the database URL', text: variant((c) => (c.database.url = 'postgres://sandfleet:password@db:5432/sandfleet')), field: 'database.url', message: /carries a password.*in DATABASE_URL instead/ },
  { name: 'password in a redis URL', text: variant((c) => ((c.queue.backend = 'redis'), (c.queue.redis_url = 'redis://:hunter2@cache:6379'))), field: 'queue.redis_url', message: /carries a password.*in REDIS_URL instead/ },
  { name: 'password in a URL in a comment', text: `${EXAMPLE}\n# old: postgres://sandfleet:password@db/sandfleet\n`, field: '(file)', message: /line \d+ holds a URL with a password/ },
  { name: 'sim runner min_duration_ms above max_duration_ms', text: variant((c) => (c.pools[0].runner = { kind: 'sim', min_duration_ms: 5000, max_duration_ms: 3000 })), field: 'pools[0].runner.min_duration_ms', message: /min_duration_ms \(5000\) must not exceed max_duration_ms \(3000\)/ },
  { name: 'sim runner min_duration_ms above the default max', text: variant((c) => (c.pools[0].runner = { kind: 'sim', min_duration_ms: 5000 })), field: 'pools[0].runner.min_duration_ms', message: /max_duration_ms \(500, its default\)/ },
  { name: 'sim runner max_duration_ms below the default min', text: variant((c) => (c.pools[0].runner = { kind: 'sim', max_duration_ms: 10 })), field: 'pools[0].runner.max_duration_ms', message: /min_duration_ms \(50, its default\) must not exceed max_duration_ms \(10\)/ },
  { name: 'min_ready of the pools above max_machines_total', text: variant((c) => ((c.scheduler.max_machines_total = 2), (c.pools[0].min_ready = 2), (c.pools[1].min_ready = 1))), field: 'scheduler.max_machines_total', message: /min_ready add up to 3, more than scheduler.max_machines_total \(2\)/ },
  { name: 'DATABASE_URL not a URL', text: EXAMPLE, env: { DATABASE_URL: 'garbage' }, field: 'DATABASE_URL', message: /is not a postgres URL; expected postgres:\/\// },
  { name: 'DATABASE_URL of another scheme', text: EXAMPLE, env: { DATABASE_URL: 'mysql://db/sandfleet' }, field: 'DATABASE_URL', message: /its scheme is mysql/ },
  { name: 'database.url not a URL', text: variant((c) => (c.database.url = 'db:5432')), field: 'database.url', message: /is not a postgres URL/ },
  { name: 'REDIS_URL not a URL', text: variant((c) => (c.queue.backend = 'redis')), env: { REDIS_URL: 'cache:6379' }, field: 'REDIS_URL', message: /is not a redis URL; expected redis:\/\// },
  { name: 'an AWS access key in the file', text: `${EXAMPLE}\n# ${FAKE_ACCESS_KEY_ID}\n`, field: '(file)', message: /credential/ },
  { name: 'a client_secret key in the file', text: variant((c) => (c.pools[0].settings.client_secret = 'x')), field: '(file)', message: /credential/ },
  { name: 'SANDFLEET_PORT not a number', text: EXAMPLE, env: { SANDFLEET_PORT: 'eighty' }, field: 'SANDFLEET_PORT', message: /port number.*"eighty"/ },
  { name: 'SANDFLEET_PORT out of range', text: EXAMPLE, env: { SANDFLEET_PORT: '70000' }, field: 'SANDFLEET_PORT', message: /0-65535/ },
  { name: 'SANDFLEET_LOG_LEVEL unknown', text: EXAMPLE, env: { SANDFLEET_LOG_LEVEL: 'loud' }, field: 'log.level', message: /info/ },
];

describe('malformed configs', () => {
  it('the example config itself is valid', () => {
    const config = parseConfig(EXAMPLE, EXAMPLE_PATH, {});
    expect(config.pools.map((p) => p.name)).toEqual(['linux-sandbox', 'windows-reimage']);
  });

  it.each(cases)('$name → names $field', ({ text, env, field, message }) => {
    const issues = issuesOf(text, env);
    const named = issues.filter((i) => i.field.startsWith(field));
    expect(named, JSON.stringify(issues)).not.toHaveLength(0);
    expect(named.some((i) => message.test(i.message)), JSON.stringify(issues)).toBe(true);
  });

  it('reports every problem at once, and the error message lists each field', () => {
    const text = variant((c) => {
      c.cluster = 'BAD';
      c.pools[0].max_size = 'x';
      c.api.port = -1;
    });
    const error = (() => {
      try {
        parseConfig(text, 'many.yaml', {});
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error.issues.map((i) => i.field).sort()).toEqual(['api.port', 'cluster', 'pools[0].max_size']);
    for (const field of ['many.yaml', 'api.port', 'cluster', 'pools[0].max_size']) expect(error.message).toContain(field);
  });

  it('one mis-indented line is one error, at its line, quoting it; the errors that follow from it are counted, not listed', () => {
    const lines = EXAMPLE.split('\n');
    const at = lines.indexOf('    min_ready: 1');
    lines[at] = '  min_ready: 1';
    const issues = issuesOf(lines.join('\n'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ field: `(yaml, line ${at + 1})`, line: at + 1 });
    expect(issues[0]!.message).toMatch(/^All mapping items must start at the same column: " {2}min_ready: 1"; check its indentation .*\(fix this first: the \d+ other YAML error\(s\) after it/);
  });

  it('a line that YAML reads into the wrong place is named by its line', () => {
    const text = EXAMPLE.replace('      bootDelayMs: 1500\n', '    bootDelayMs: 1500\n');
    const line = EXAMPLE.split('\n').indexOf('      bootDelayMs: 1500') + 1;
    const issues = issuesOf(text);
    expect(issues).toContainEqual({ field: 'pools[0]', line, message: expect.stringMatching(/bootDelayMs/) });
    expect(issues.length).toBeLessThanOrEqual(2);
    expect(() => parseConfig(text, 't.yaml', {})).toThrow(new RegExp(`pools\\[0\\] \\(line ${line}\\): .*bootDelayMs`));
  });

  it('a missing file says how to get one', () => {
    expect(() => loadConfig('/nonexistent/sandfleet.yaml', {})).toThrow(/no such file \(copy sandfleet.example.yaml, or pass --config\)/);
  });
});

describe('environment overrides', () => {
  it('DATABASE_URL, REDIS_URL, SANDFLEET_PORT and SANDFLEET_LOG_LEVEL win over the file', () => {
    const text = variant((c) => ((c.queue.backend = 'redis'), (c.database.url = 'postgres://postgres@file-host/file')));
    const config = parseConfig(text, 't.yaml', {
      DATABASE_URL: 'postgres://sandfleet:password@db:5432/from-env',
      REDIS_URL: 'redis://cache:6379',
      SANDFLEET_PORT: '9191',
      SANDFLEET_LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({ databaseUrl: 'postgres://sandfleet:password@db:5432/from-env', redisUrl: 'redis://cache:6379', api: { port: 9191 }, log: { level: 'debug' } });
  });

  it('without overrides the defaults apply', () => {
    const config = parseConfig(variant((c) => delete c.database), 't.yaml', {});
    expect(config.databaseUrl).toBe(DEFAULT_DATABASE_URL);
    expect(config.database.pool_size).toBe(20);
    expect(config.redisUrl).toBeNull();
  });
});
