// The deployment files under infra/ agree with the code they deploy: the configs they ship pass
// sandfleet's own validator, probes and ports point where the daemon listens, stop timeouts
// outlast the shutdown grace, the database password only ever comes from a secret, Terraform
// renders the same IAM policy / Azure role files the adapter contract tests check, and the Grafana
// dashboard queries only metrics (and labels) that src/daemon/metrics.ts registers.
// No database, no Docker, no Terraform: files are parsed and checked as text or YAML/JSON.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig, type ResolvedConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/daemon/metrics.js';
import { awsSettingsSchema } from '../../src/providers/aws/settings.js';
import { azureSettingsSchema } from '../../src/providers/azure/settings.js';

const root = path.resolve(import.meta.dirname, '../..');
const infra = path.join(root, 'infra');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Time after the shutdown grace for closing the API, the queues and the database pool. */
const STOP_MARGIN_S = 10;
const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

/** Validates a sandfleet.yaml the way `sandfleet config check` does, with only the given environment. */
function checkConfig(text: string, source: string, env: Record<string, string> = {}): ResolvedConfig {
  return parseConfig(text, source, env);
}

function once<T>(compute: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}

/** Seconds of a duration such as 60, "60", "60s", "1m30s", "2min" (compose and systemd spellings). */
function seconds(value: unknown): number {
  if (typeof value === 'number') return value;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { h: 3600, m: 60, min: 60, s: 1, sec: 1, ms: 0.001 };
  let total = 0;
  let rest = text;
  while (rest) {
    const match = /^(\d+(?:\.\d+)?)\s*(ms|min|sec|h|m|s)\s*/.exec(rest);
    if (!match) throw new Error(`cannot read the duration "${text}"`);
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
describe('Kubernetes manifests', () => {
  const dir = path.join(infra, 'kubernetes');
  const kustomization = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
  const objects: any[] = (kustomization.resources as string[]).flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS();
    }),
  );
  const ofKind = (kind: string) => objects.filter((o) => o?.kind === kind);
  const one = (kind: string) => {
    const found = ofKind(kind);
    if (found.length !== 1) throw new Error(`expected one ${kind} in infra/kubernetes, found ${found.length}`);
    return found[0];
  };
  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: any) => c.name === 'sandfleet') ?? pod.containers[0];
  const configMap = one('ConfigMap');
  // Plain env values reach the daemon as environment overrides (SANDFLEET_PORT and friends).
  const plainEnv: Record<string, string> = Object.fromEntries((container.env ?? []).filter((e: any) => typeof e.value === 'string').map((e: any) => [e.name, e.value]));
  // Validated inside the tests that need it, so a bad config fails them by name.
  const config = once(() => checkConfig(configMap.data['sandfleet.yaml'], 'infra/kubernetes/configmap.yaml', plainEnv));
  const portOf = (ref: number | string): number => (typeof ref === 'number' ? ref : container.ports.find((p: any) => p.name === ref)?.containerPort);

  it('kustomization.yaml lists every manifest in the directory', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it("the ConfigMap's sandfleet.yaml passes sandfleet's validator and listens beyond loopback", () => {
    expect(config().pools.length).toBeGreaterThan(0);
    // In a pod, the kubelet's probes and the Service reach the daemon on the pod's address.
    expect(LOOPBACK).not.toContain(config().api.host);
  });

  it('the Deployment runs several daemons with the config file from the ConfigMap', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const argv: string[] = [...(container.command ?? []), ...(container.args ?? [])];
    expect(argv).toContain('daemon');
    const configFile = argv[argv.indexOf('--config') + 1]!;
    const mount = container.volumeMounts.find((m: any) => m.mountPath === path.posix.dirname(configFile));
    expect(mount, `a volume mounted at ${path.posix.dirname(configFile)}`).toBeDefined();
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    expect(volume.configMap?.name).toBe(configMap.metadata.name);
    const items: { key: string; path: string }[] = volume.configMap.items ?? [{ key: path.posix.basename(configFile), path: path.posix.basename(configFile) }];
    expect(items).toContainEqual({ key: 'sandfleet.yaml', path: path.posix.basename(configFile) });
  });

  it('probes /readyz and /healthz on the port the config makes the daemon listen on', () => {
    expect(container.ports.map((p: any) => p.containerPort)).toContain(config().api.port);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(portOf(container.readinessProbe.httpGet.port)).toBe(config().api.port);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(portOf(container.livenessProbe.httpGet.port)).toBe(config().api.port);
  });

  it('gives SIGTERM more time than the shutdown grace', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(config().scheduler.shutdown_grace_s + STOP_MARGIN_S);
  });

  it('takes DATABASE_URL from a key of a Secret in the manifests, never from a plain value', () => {
    const entries = (container.env ?? []).filter((e: any) => e.name === 'DATABASE_URL');
    expect(entries).toHaveLength(1);
    const ref = entries[0].valueFrom?.secretKeyRef;
    expect(ref, 'DATABASE_URL valueFrom.secretKeyRef').toBeDefined();
    const secret = ofKind('Secret').find((s) => s.metadata.name === ref.name);
    expect(secret, `Secret ${ref.name}`).toBeDefined();
    expect(Object.keys({ ...secret.data, ...secret.stringData })).toContain(ref.key);
    // The shipped value is a placeholder, visibly so.
    expect(String(secret.stringData?.[ref.key] ?? '')).toMatch(/REPLACE/);
  });

  it('runs unprivileged on a read-only root filesystem, with a writable /tmp', () => {
    const sc = container.securityContext;
    expect(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toContain('ALL');
    const tmp = container.volumeMounts.find((m: any) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: any) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits?.memory).toBeDefined();
  });

  it('the Service and the PodDisruptionBudget select the pods; the budget leaves room to drain', () => {
    const labels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const service = one('Service');
    expect(selects(service.spec.selector)).toBe(true);
    expect(service.spec.ports.map((p: any) => portOf(p.targetPort ?? p.port))).toContain(config().api.port);
    const pdb = one('PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
  });

  it('puts every object in the namespace it creates', () => {
    const namespace = one('Namespace').metadata.name;
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(`${o.kind} ${o.metadata.namespace}`).toBe(`${o.kind} ${namespace}`);
  });
});

// ---------------------------------------------------------------------------------------------
describe('compose file and image', () => {
  const compose = parse(read('infra/compose.yaml'));
  const { postgres, redis, sandfleet } = compose.services;
  const environment: Record<string, string> = sandfleet.environment;
  const command: string[] = sandfleet.command;
  const configFile = command[command.indexOf('--config') + 1]!;
  const mounted = (sandfleet.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === configFile);
  const hostConfig = mounted ? path.join('infra', mounted[0]!) : '(not mounted)';
  const env = Object.fromEntries(Object.entries(environment).filter(([k]) => k.startsWith('SANDFLEET_')));
  const config = once(() => checkConfig(read(hostConfig), hostConfig, env));
  const dockerfile = read('infra/Dockerfile');

  it(`${hostConfig}, the config it mounts, passes sandfleet's validator`, () => {
    expect(config().pools.length).toBeGreaterThan(0);
  });

  it('PostgreSQL 15 with a pg_isready healthcheck, and Redis 7 only under the redis profile', () => {
    expect(postgres.image).toMatch(/^postgres:15/);
    expect(JSON.stringify(postgres.healthcheck.test)).toMatch(/pg_isready/);
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.profiles).toEqual(['redis']);
  });

  it('the daemon waits for a healthy PostgreSQL and is healthy when /readyz answers on its port', () => {
    expect(sandfleet.depends_on.postgres.condition).toBe('service_healthy');
    expect(LOOPBACK).not.toContain(config().api.host);
    expect(JSON.stringify(sandfleet.healthcheck.test)).toContain(`:${config().api.port}/readyz`);
    expect((sandfleet.ports as string[]).map((p) => Number(p.split(':').at(-1)))).toContain(config().api.port);
  });

  it('the database password comes from the environment file, not from a file in the repository', () => {
    expect(environment.DATABASE_URL).toMatch(/^postgres:\/\/[^:@]+:\$\{POSTGRES_PASSWORD[:?}][^@]*@postgres:5432\//);
    expect(postgres.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD[:?}]/);
    expect(existsSync(path.join(infra, '.env.example'))).toBe(true);
  });

  it('stops with more time than the shutdown grace (compose sends SIGKILL after 10 s by default)', () => {
    expect(seconds(sandfleet.stop_grace_period)).toBeGreaterThanOrEqual(config().scheduler.shutdown_grace_s + STOP_MARGIN_S);
  });

  it('the image is built from infra/Dockerfile and runs the daemon on the mounted config', () => {
    expect(path.resolve(infra, sandfleet.build.context, sandfleet.build.dockerfile)).toBe(path.join(infra, 'Dockerfile'));
    expect(command.slice(-1)).toEqual(['daemon']);
    expect(dockerfile).toMatch(/^FROM node:24/m);
    for (const needed of ['bin', 'scripts', 'src', 'migrations']) expect(dockerfile).toMatch(new RegExp(`^COPY .*\\b${needed}\\b`, 'm'));
    // The image runs the compiled build, made after src is copied, so bin/sandfleet.js finds it fresh.
    expect(dockerfile.indexOf('RUN node scripts/build.js')).toBeGreaterThan(dockerfile.indexOf('COPY src'));
  });

  it('every package src/ and bin/ load at run time is a dependency, since the image omits devDependencies', () => {
    expect(dockerfile).toMatch(/^RUN .*npm ci --omit=dev/m);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
    const files = [path.join(root, 'bin/sandfleet.js'), path.join(root, 'scripts/build.js'), ...readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => path.join(root, 'src', f))];
    const used = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // Type-only imports vanish at run time.
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+'([^'.][^']*)'|\bimport\(\s*'([^'.][^']*)'\s*\)/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('node:')) continue;
        used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    // The build's tool is needed in the image; the TypeScript loader is not (development only).
    expect(used).toContain('esbuild');
    expect(used).not.toContain('tsx');
    expect([...used].filter((p) => !(p in pkg.dependencies)).sort()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('systemd unit', () => {
  const text = read('infra/systemd/sandfleet.service');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith(';') && !l.startsWith('['));
  const values = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const value = (key: string) => values(key).at(-1);

  it('stops with more time than the shutdown grace of the example config and of the default', () => {
    const example = checkConfig(read('sandfleet.example.yaml'), 'sandfleet.example.yaml').scheduler.shutdown_grace_s;
    // The schema's default: what a config that does not set it gets.
    const byDefault = checkConfig('pools: [{ name: p, provider: sim, max_size: 1 }]', 'minimal').scheduler.shutdown_grace_s;
    expect(seconds(value('TimeoutStopSec'))).toBeGreaterThanOrEqual(Math.max(example, byDefault) + STOP_MARGIN_S);
    expect(value('KillSignal')).toBe('SIGTERM');
  });

  it('reads DATABASE_URL from the environment file, never from the unit', () => {
    expect(value('EnvironmentFile')).toBe('/etc/sandfleet/env');
    expect(lines.filter((l) => /DATABASE_URL\s*=|postgres(ql)?:\/\//.test(l))).toEqual([]);
  });

  it('runs the daemon as a dedicated user, restarted on failure, after the network and PostgreSQL', () => {
    expect(value('Type')).toBe('simple');
    expect(value('User')).toMatch(/^[a-z_][a-z0-9_-]*$/);
    expect(value('User')).not.toBe('root');
    expect(value('Restart')).toBe('on-failure');
    expect(value('ExecStart')).toMatch(/bin\/sandfleet\.js --config \S+ daemon$/);
    expect(values('After').join(' ').split(/\s+/)).toEqual(expect.arrayContaining(['network-online.target', 'postgresql.service']));
  });

  it('is hardened, keeping /tmp writable', () => {
    for (const [key, expected] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes' })) {
      expect(`${key}=${value(key)}`).toBe(`${key}=${expected}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('Terraform', () => {
  const tf = (module: string) =>
    readdirSync(path.join(infra, 'terraform', module))
      .filter((f) => f.endsWith('.tf'))
      .map((f) => readFileSync(path.join(infra, 'terraform', module, f), 'utf8'))
      .join('\n');

  /** The templatefile() call on `file` in the module: the path resolves to it and its variables fill every placeholder. */
  function checkTemplate(module: string, file: string, sample: Record<string, string>) {
    const text = tf(module);
    const call = new RegExp(String.raw`templatefile\(\s*"\$\{path\.module\}/([^"]+)",\s*\{([^}]*)\}`).exec(text);
    expect(call, `templatefile("\${path.module}/…") in infra/terraform/${module}`).not.toBeNull();
    expect(path.resolve(infra, 'terraform', module, call![1]!)).toBe(path.join(infra, file));
    const passed = [...call![2]!.matchAll(/(\w+)\s*=/g)].map((m) => m[1]!);
    const template = readFileSync(path.join(infra, file), 'utf8');
    const placeholders = [...new Set([...template.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!))];
    expect(placeholders.length).toBeGreaterThan(0);
    expect(passed.sort()).toEqual(placeholders.sort());
    // Nothing else that templatefile would interpret, and the rendered text is JSON.
    expect(template.replace(/\$\{\w+\}/g, '')).not.toMatch(/\$\{|%\{/);
    return JSON.parse(template.replace(/\$\{(\w+)\}/g, (_, name: string) => sample[name] ?? 'x'));
  }

  /** Every var.X used is declared in variables.tf, and every declared variable is used. */
  function checkVariables(module: string) {
    const text = tf(module);
    const declared = new Set([...text.matchAll(/^variable\s+"(\w+)"/gm)].map((m) => m[1]!));
    const used = new Set([...text.matchAll(/\bvar\.(\w+)/g)].map((m) => m[1]!));
    expect([...used].filter((v) => !declared.has(v))).toEqual([]);
    expect([...declared].filter((v) => !used.has(v))).toEqual([]);
  }

  /** Keys of the `pool_settings` output's yamlencode({...}) are fields the provider's settings schema knows. */
  function snippetKeys(module: string): string[] {
    const block = /output\s+"pool_settings"\s*\{[\s\S]*?yamlencode\(\{([\s\S]*?)\n\s*\}\)/.exec(tf(module));
    expect(block, `output "pool_settings" in infra/terraform/${module}`).not.toBeNull();
    return [...block![1]!.matchAll(/^\s{4}(\w+)\s*=/gm)].map((m) => m[1]!);
  }

  it('aws: the daemon role gets infra/aws/iam-policy.json through templatefile, with every placeholder filled', () => {
    const policy = checkTemplate('aws', 'aws/iam-policy.json', { cluster: 'prod' });
    expect(policy.Version).toBe('2012-10-17');
    expect(tf('aws')).toMatch(/source\s*=\s*"hashicorp\/aws"\s*\n\s*version\s*=\s*"~> 5/);
    checkVariables('aws');
  });

  it('aws: iam:PassRole stays out of iam-policy.json and is granted in Terraform for EC2 only', () => {
    expect(read('infra/aws/iam-policy.json')).not.toMatch(/iam:PassRole/);
    const text = tf('aws');
    expect(text).toMatch(/Action\s*=\s*"iam:PassRole"/);
    expect(text).toMatch(/"iam:PassedToService"\s*=\s*"ec2\.amazonaws\.com"/);
  });

  it('aws: the launch template requires IMDSv2 and has no network interface (sandfleet passes SubnetId)', () => {
    const template = /resource\s+"aws_launch_template"[\s\S]*?\n\}/.exec(tf('aws'))![0];
    expect(template).toMatch(/http_tokens\s*=\s*"required"/);
    // EC2 refuses RunInstances with an instance-level SubnetId and a template network interface.
    expect(template).not.toMatch(/^\s*network_interfaces\s*\{/m);
    expect(template).not.toMatch(/^\s*tag_specifications\s*\{/m);
  });

  it('aws: outputs the ids to paste, and a settings snippet the aws adapter accepts', () => {
    for (const name of ['launch_template_id', 'security_group_id', 'daemon_instance_profile_name']) expect(tf('aws')).toMatch(new RegExp(`output\\s+"${name}"`));
    const keys = snippetKeys('aws');
    expect(keys).toEqual(expect.arrayContaining(['region', 'launchTemplate']));
    expect(keys.filter((k) => !(k in awsSettingsSchema.shape))).toEqual([]);
  });

  it('azure: the custom role is built from infra/azure/role.json through templatefile, assigned to an identity', () => {
    const role = checkTemplate('azure', 'azure/role.json', { subscription_id: '00000000-0000-0000-0000-000000000000', resource_group: 'rg' });
    expect(role.AssignableScopes).toEqual(['/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg']);
    const text = tf('azure');
    expect(text).toMatch(/jsondecode\(templatefile\(/);
    expect(text).toMatch(/actions\s*=\s*local\.role\.Actions/);
    expect(text).toMatch(/resource\s+"azurerm_role_assignment"/);
    expect(text).toMatch(/output\s+"client_id"/);
    expect(text).toMatch(/source\s*=\s*"hashicorp\/azurerm"\s*\n\s*version\s*=\s*"~> [34]/);
    expect(snippetKeys('azure').filter((k) => !(k in azureSettingsSchema.shape))).toEqual([]);
    checkVariables('azure');
  });
});

// ---------------------------------------------------------------------------------------------
describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read('infra/grafana/sandfleet-dashboard.json'));
  const metrics = createMetrics();
  afterAll(() => metrics.close());
  // What the registry exposes: name → label names and type (histograms add _bucket{le}, _sum, _count).
  const registered = new Map(
    metrics.registry.getMetricsAsArray().map((m) => {
      const metric = m as unknown as { name: string; labelNames?: string[]; type: string };
      return [metric.name, { labels: metric.labelNames ?? [], type: metric.type }] as const;
    }),
  );
  /** Labels Prometheus adds to every scraped series. */
  const TARGET_LABELS = ['instance', 'job'];

  function series(name: string): { metric: string; labels: string[] } | null {
    const exact = registered.get(name);
    if (exact) return { metric: name, labels: exact.labels };
    const match = /^(.*)_(bucket|sum|count)$/.exec(name);
    const base = match && registered.get(match[1]!);
    if (!base || !['histogram', 'summary'].includes(base.type)) return null;
    return { metric: match[1]!, labels: match[2] === 'bucket' ? [...base.labels, 'le'] : base.labels };
  }

  const panels: any[] = dashboard.panels.filter((p: any) => p.type !== 'row');
  const targets: { panel: string; expr: string; legend: string; datasource: { uid?: string } | undefined }[] = panels.flatMap((p: any) =>
    p.targets.map((t: any) => ({ panel: p.title, expr: t.expr, legend: t.legendFormat ?? '', datasource: t.datasource })),
  );

  it('has a Prometheus datasource variable that every panel and query uses', () => {
    const variable = dashboard.templating.list.find((v: any) => v.name === 'DS_PROMETHEUS');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of panels) expect(`${p.title}: ${p.datasource?.uid}`).toBe(`${p.title}: \${DS_PROMETHEUS}`);
    for (const t of targets) expect(`${t.panel}: ${t.datasource?.uid}`).toBe(`${t.panel}: \${DS_PROMETHEUS}`);
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length);
  });

  it('the pool variable reads label_values of a registered metric and label', () => {
    const pool = dashboard.templating.list.find((v: any) => v.name === 'pool');
    const query = pool.definition ?? pool.query?.query ?? pool.query;
    const match = /^label_values\((\w+),\s*(\w+)\)$/.exec(query);
    expect(match, query).not.toBeNull();
    expect(series(match![1]!)?.labels).toContain(match![2]);
  });

  it('queries only metrics that src/daemon/metrics.ts registers', () => {
    for (const { panel, expr } of targets) {
      const names = [...expr.matchAll(/\bsandfleet_\w+/g)].map((m) => m[0]);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      expect(names.filter((n) => !series(n)).map((n) => `${panel}: ${n}`)).toEqual([]);
    }
  });

  it("filters, groups and labels legends only by the metrics' own labels", () => {
    const problems: string[] = [];
    for (const { panel, expr, legend } of targets) {
      const used = [...expr.matchAll(/\bsandfleet_\w+/g)].map((m) => series(m[0])!);
      // Matchers attach to their metric: name{label="…", label=~"…"}.
      for (const m of expr.matchAll(/\b(sandfleet_\w+)\{([^}]*)\}/g)) {
        const labels = series(m[1]!)!.labels;
        for (const [, label] of m[2]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) if (!labels.includes(label!)) problems.push(`${panel}: ${m[1]} has no label ${label}`);
      }
      // Grouping labels must exist on every series the expression reads.
      const groups = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].map((m) => m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
      for (const label of groups.flat()) for (const s of used) if (!s.labels.includes(label)) problems.push(`${panel}: ${s.metric} has no label ${label}`);
      // A legend can show what survives the aggregation (or, without one, the series' labels).
      const available = groups.length ? groups.reduce((a, b) => a.filter((l) => b.includes(l))) : [...TARGET_LABELS, ...used.flatMap((s) => s.labels)];
      for (const [, label] of legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) if (!available.includes(label!)) problems.push(`${panel}: legend {{${label}}} is not a label of the result`);
    }
    expect(problems).toEqual([]);
  });

  it("charts every one of sandfleet's own metrics", () => {
    const charted = new Set(targets.flatMap((t) => [...t.expr.matchAll(/\bsandfleet_\w+/g)].map((m) => series(m[0])!.metric)));
    const own = [...registered.keys()].filter((n) => !n.startsWith('sandfleet_process_'));
    expect(own.length).toBeGreaterThan(0);
    expect(own.filter((n) => !charted.has(n))).toEqual([]);
  });
});
