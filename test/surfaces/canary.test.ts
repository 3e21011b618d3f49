// Canaries through every error path (issue 15): a payload, a result, an idempotency key, an API
// token, the database password and the cloud keys, each a random string made at run time, are
// driven through REST refusals (4xx and a 500), failing CLI commands, a failed run job (its
// failedReason), a failed analysis, database errors and provider errors, all against the real
// daemon binary at debug level. Then every log line, response (body and headers), failing CLI
// output and stored row (every column of every table, BullMQ's schema included) is searched:
// each canary is only where it belongs.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, openDatabase } from '../../src/db/index.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';
import { until } from '../support/until.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { freePort, runCli, startDaemonProcess, waitReady, type Ran } from './process.js';

const name = `sf_test_canary_${randomBytes(4).toString('hex')}`;
// Built here, so no tracked file holds anything shaped like a credential.
const canary = (label: string) => `${label}Canary${randomBytes(8).toString('hex')}`;
const C = {
  payload: canary('Payload'),
  result: canary('Result'),
  key: canary('Key'),
  dbPassword: canary('DbPassword'),
  awsKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
  awsSecret: canary('AwsSecret'),
  azureSecret: canary('AzureSecret'),
  // The API token is real: created below.
  token: '',
};

// Trust authentication ignores the password, so every process reaches the database with one.
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
url.username = url.username || 'postgres';
url.password = C.dbPassword;
afterAll(() => dropDatabase(url.toString(), name), 30_000);

// The analysis: completes with the result canary (from a passed-through variable, so it is in no
// payload), completes with a result the database refuses (the run job fails on a database error),
// or fails printing what it finds of the daemon's secrets in the daemon's own environment.
const ANALYSIS = `
const mode = JSON.parse(process.env.SANDFLEET_TASK).payload.mode;
if (mode === 'fail') {
  const found = require('fs').readFileSync('/proc/' + process.ppid + '/environ', 'utf8').split('\\0').filter((l) => l.includes('Canary') && !l.startsWith('CANARY_RESULT='));
  console.error(found.join(' '));
  process.exit(1);
}
console.log(JSON.stringify(mode === 'refused' ? { refused: true, value: process.env.CANARY_RESULT } : { value: process.env.CANARY_RESULT }));`;

function configYaml(ec2Endpoint: string, deadPort: number): string {
  const sub = '00000000-0000-4000-8000-00000000ca11';
  return `cluster: canary
log:
  level: debug
scheduler:
  supervise_every_ms: 100
tenants:
  - name: alpha
  - name: beta
pools:
  - name: cmd
    provider: sim
    min_ready: 1
    max_size: 4
    settings: { bootDelayMs: 50 }
    runner:
      kind: command
      command: ${JSON.stringify(process.execPath)}
      args: ["-e", ${JSON.stringify(ANALYSIS)}]
      env_passthrough: [CANARY_RESULT]
  - name: aws
    provider: aws
    min_ready: 1
    max_size: 1
    settings: { region: us-east-1, endpoint: "${ec2Endpoint}", imageId: ami-0abc, instanceType: t3.micro, maxAttempts: 1 }
  - name: azure
    provider: azure
    min_ready: 1
    max_size: 1
    settings:
      subscriptionId: ${sub}
      resourceGroup: rg
      location: westeurope
      vmSize: Standard_D2s_v5
      image: { publisher: Canonical, offer: ubuntu, sku: server }
      subnetId: /subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s
      sshPublicKey: ssh-ed25519 AAAA canary
      endpoint: https://127.0.0.1:${deadPort}
      maxRetries: 0
`;
}

interface Answer {
  /** Whose request it answered: the payload's and result's own tenant, or anyone else. */
  audience: 'owner' | 'other';
  what: string;
  status: number;
  text: string;
}

/** Every place a string occurs in the stored rows: schema.table.column. */
async function placesOf(database: ReturnType<typeof openDatabase>, needles: string[]): Promise<Map<string, Set<string>>> {
  const places = new Map(needles.map((n) => [n, new Set<string>()]));
  const tables = await database.pool.query<{ schema: string; table: string }>(
    "SELECT table_schema AS schema, table_name AS table FROM information_schema.tables WHERE table_schema IN ('public', 'bullmq') AND table_type = 'BASE TABLE'",
  );
  expect(tables.rows.map((r) => `${r.schema}.${r.table}`)).toEqual(expect.arrayContaining(['public.tasks', 'public.events', 'public.machines', 'bullmq.job', 'bullmq.event']));
  for (const { schema, table } of tables.rows) {
    const rows = await database.pool.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(t) AS row FROM "${schema}"."${table}" t`);
    for (const { row } of rows.rows) {
      for (const [column, value] of Object.entries(row)) {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        for (const needle of needles) if (text?.includes(needle)) places.get(needle)!.add(`${schema}.${table}.${column}`);
      }
    }
  }
  return places;
}

describe('canaries', () => {
  it('appear only where they belong, whatever fails on the way', async () => {
    const ec2 = new Ec2Emulator({ faults: { authFailure: true }, budget: 'unlimited' });
    const ec2Endpoint = await ec2.start();
    // Nothing listens here: Azure's token endpoint (with the client secret set) and ARM.
    const deadPort = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-canary-'));
    const configFile = path.join(dir, 'sandfleet.yaml');
    writeFileSync(configFile, configYaml(ec2Endpoint, deadPort));
    const port = await freePort();
    const env = {
      DATABASE_URL: url.toString(),
      SANDFLEET_CONFIG: configFile,
      SANDFLEET_PORT: String(port),
      AWS_ACCESS_KEY_ID: C.awsKeyId,
      AWS_SECRET_ACCESS_KEY: C.awsSecret,
      AZURE_TENANT_ID: '00000000-0000-4000-8000-0000000000a2',
      AZURE_CLIENT_ID: '00000000-0000-4000-8000-0000000000c1',
      AZURE_CLIENT_SECRET: C.azureSecret,
      AZURE_AUTHORITY_HOST: `https://127.0.0.1:${deadPort}`,
      AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
      CANARY_RESULT: C.result,
    };
    const failures: { what: string; args: string[]; ran: Ran }[] = [];
    const answers: Answer[] = [];
    const cli = async (what: string, args: string[], extra: Record<string, string> = {}) => {
      const ran = await runCli(args, { ...env, ...extra });
      failures.push({ what, args, ran });
      return ran;
    };

    // The daemon creates and migrates the database; the constraints and tokens come once it is up.
    const daemon = startDaemonProcess([], env);
    const database = openDatabase({ url: url.toString(), max: 2 });

    let cliRuns: Promise<unknown> = Promise.resolve();
    try {
      await waitReady(port, 60_000, daemon.output);
      // Real constraints for real database errors: a submission the database refuses (a 500 and
      // a failing CLI command) and a result it refuses (the run job fails; BullMQ keeps why).
      await database.pool.query("ALTER TABLE tasks ADD CONSTRAINT canary_refused_payload CHECK (NOT payload ? 'refuse')");
      await database.pool.query("ALTER TABLE tasks ADD CONSTRAINT canary_refused_result CHECK (result IS NULL OR NOT result ? 'refused')");
      C.token = (await createToken(database.db, { name: 'owner', role: 'submitter', tenant: 'alpha' })).token;
      const other = (await createToken(database.db, { name: 'other', role: 'submitter', tenant: 'beta' })).token;
      const call = async (audience: Answer['audience'], what: string, route: string, init: { method?: string; token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
        const token = init.token === undefined ? C.token : init.token;
        const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
        const response = await fetch(`http://127.0.0.1:${port}${route}`, {
          method: init.method ?? (body === undefined ? 'GET' : 'POST'),
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
          ...(body === undefined ? {} : { body }),
        });
        const text = await response.text();
        answers.push({ audience, what, status: response.status, text: `${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${text}` });
        const json = response.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {};
        return { status: response.status, json };
      };
      const task = (id: unknown) => database.pool.query<{ state: string; error: string | null }>('SELECT state, error FROM tasks WHERE id = $1', [id]).then((r) => r.rows[0]);
      const ended = (id: unknown) => until(async () => ['completed', 'failed'].includes((await task(id))?.state ?? ''), 30_000, () => task(id));

      // A task that completes with the result canary, submitted under the idempotency key.
      const submitted = await call('owner', 'submit', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload } }, headers: { 'idempotency-key': C.key } });
      expect(submitted.status).toBe(201);
      const id = submitted.json.id;
      await ended(id);
      expect((await task(id))?.state).toBe('completed');
      expect((await call('owner', 'show', `/v1/tasks/${String(id)}`)).json.result).toEqual({ value: C.result });

      // REST 4xx: the key reused for another body, bodies and headers the schemas refuse, broken
      // JSON, another tenant's view of the task, an invalid and a mangled token, no such route.
      expect((await call('owner', 'idempotency conflict', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload, again: true } }, headers: { 'idempotency-key': C.key } })).status).toBe(409);
      expect((await call('owner', 'unknown field', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload }, note: C.payload } })).status).toBe(400);
      expect((await call('owner', 'wrong type', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload }, priority: C.payload } })).status).toBe(400);
      expect((await call('owner', 'bad key', '/v1/tasks', { body: { pool: 'cmd', payload: {} }, headers: { 'idempotency-key': `${C.key} ${C.key}` } })).status).toBe(400);
      expect((await call('owner', 'broken json', '/v1/tasks', { raw: `{"pool":"cmd","payload":{"value":"${C.payload}"} x` })).status).toBe(400);
      expect((await call('owner', 'no pool', '/v1/tasks', { body: { pool: 'nowhere', payload: { value: C.payload } }, headers: { 'idempotency-key': `${C.key}-nowhere` } })).status).toBe(422);
      expect((await call('other', 'another tenant', `/v1/tasks/${String(id)}`, { token: other })).status).toBe(404);
      expect((await call('other', 'another tenant lists', '/v1/tasks', { token: other })).status).toBe(200);
      expect((await call('other', 'another tenant cancels', `/v1/tasks/${String(id)}/cancel`, { token: other, method: 'POST' })).status).toBe(404);
      expect((await call('other', 'mangled token', '/v1/tasks', { token: `${C.token}x` })).status).toBe(401);
      expect((await call('owner', 'operator route', '/v1/machines')).status).toBe(403);
      expect((await call('owner', 'no route', '/v1/nowhere')).status).toBe(404);
      // REST 5xx: the database refuses the row (its detail quotes the payload and the key).
      expect((await call('owner', 'database refuses', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload, refuse: true } }, headers: { 'idempotency-key': `${C.key}-refused` } })).status).toBe(500);
      for (const route of ['/healthz', '/readyz', '/metrics', '/openapi.json']) await call('other', route, route, { token: null });

      // CLI failures, with the password in DATABASE_URL, run while the daemon works on the tasks
      // below: the database refuses the row, the key reused, the database unreachable or
      // missing, bad usage.
      const unreachable = new URL(url);
      unreachable.port = String(deadPort);
      const missing = new URL(url);
      missing.pathname = `/${name}_missing`;
      cliRuns = Promise.all([
        cli('database refuses', ['tasks', 'submit', '--pool', 'cmd', '--payload', JSON.stringify({ value: C.payload, refuse: true }), '--idempotency-key', `${C.key}-cli`]),
        cli('idempotency conflict', ['tasks', 'submit', '--pool', 'cmd', '--tenant', 'alpha', '--payload', JSON.stringify({ value: C.payload, cli: true }), '--idempotency-key', C.key]),
        cli('bad payload', ['tasks', 'submit', '--pool', 'cmd', '--payload', `{"value":"${C.payload}" x`]),
        cli('database unreachable', ['tasks', 'submit', '--pool', 'cmd', '--payload', JSON.stringify({ value: C.payload }), '--idempotency-key', C.key], { DATABASE_URL: unreachable.toString() }),
        cli('no such database', ['tasks', 'ls'], { DATABASE_URL: missing.toString() }),
        cli('migrate unreachable', ['migrate'], { DATABASE_URL: unreachable.toString() }),
        cli('revoke no token', ['tokens', 'revoke', C.key]),
      ]);

      // A failed analysis, and a run job failing on a database error (the result refused).
      const failing = await call('owner', 'submit failing', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload, mode: 'fail' } } });
      const refused = await call('owner', 'submit refused', '/v1/tasks', { body: { pool: 'cmd', payload: { value: C.payload, mode: 'refused' }, max_attempts: 1 } });
      await ended(failing.json.id);
      expect((await task(failing.json.id))?.error).toMatch(/exited with 1: .*AWS_SECRET_ACCESS_KEY=\[redacted\]/);
      const failedReasons = () => database.pool.query<{ reason: string }>("SELECT failed_reason AS reason FROM bullmq.job WHERE failed_reason IS NOT NULL AND id LIKE $1", [`run.${String(refused.json.id)}.%`]).then((r) => r.rows.map((row) => row.reason));
      await until(async () => (await failedReasons()).length > 0, 30_000, failedReasons);
      expect(await failedReasons()).toEqual([expect.stringMatching(/^database error 23514 \(constraint canary_refused_result\) during UPDATE/)]);

      // Provider errors with the cloud keys set: EC2 refuses the credentials, Azure's token
      // endpoint is unreachable. Supervision lists the pool's instances first: both fail there.
      const providerErrors = () => Promise.resolve(['aws', 'azure'].filter((pool) => daemon.output().includes(`"message":"pool ${pool}: `)));
      await until(async () => (await providerErrors()).length === 2, 60_000, providerErrors);
      expect(ec2.calls.some((c) => c.status === 401)).toBe(true);

      await cliRuns;
      for (const { what, ran } of failures) expect(ran.code, `${what}: ${ran.stdout}${ran.stderr}`).not.toBe(0);
    } catch (error) {
      await database.close();
      throw error;
    } finally {
      await cliRuns;
      daemon.child.kill('SIGTERM');
      await daemon.exited;
      await ec2.stop();
      rmSync(dir, { recursive: true, force: true });
    }

    try {
      const logs = daemon.output();
      expect(logs.split('\n').filter((l) => l.startsWith('{')).length).toBeGreaterThan(20);
      // The paths were taken and logged: the 500, the failed analysis, the provider errors.
      expect(logs).toMatch(/"msg":"request failed"/);
      expect(logs).toMatch(/"outcome":"failed"/);

      const hash = createHash('sha256').update(C.token).digest('hex');
      const everywhere = [C.payload, C.result, C.key, C.token, hash, C.dbPassword, C.awsKeyId, C.awsSecret, C.azureSecret];
      const stored = await placesOf(database, everywhere);
      const where = (needle: string) => [...(stored.get(needle) ?? [])].sort();
      // Each where it belongs, and found there: the search sees what is stored.
      expect(where(C.payload)).toEqual(['public.tasks.payload']);
      expect(where(C.result)).toEqual(['public.tasks.result']);
      expect(where(C.key)).toEqual(['public.tasks.idempotency_key']);
      expect(where(hash)).toEqual(['public.api_tokens.hash']);
      for (const secret of [C.token, C.dbPassword, C.awsKeyId, C.awsSecret, C.azureSecret]) expect(where(secret), secret).toEqual([]);

      const secrets = { token: C.token, tokenHash: hash, dbPassword: C.dbPassword, awsKeyId: C.awsKeyId, awsSecret: C.awsSecret, azureSecret: C.azureSecret, key: C.key };
      const found = (text: string, canaries: Record<string, string>) => Object.entries(canaries).filter(([, v]) => text.includes(v)).map(([k]) => k);
      // Logs: nothing at all, not the payload or result either.
      const leaks: string[] = [];
      for (const line of logs.split('\n')) for (const k of found(line, { ...secrets, payload: C.payload, result: C.result })) leaks.push(`log: ${k} in ${line.slice(0, 300)}`);
      // Answers: the owner's may hold its payload and result; nobody's anything else.
      for (const a of answers) for (const k of found(a.text, a.audience === 'owner' ? secrets : { ...secrets, payload: C.payload, result: C.result })) leaks.push(`answer ${a.what} (${a.status}): ${k} in ${a.text.slice(-300)}`);
      // A failed command (exit 1) says nothing of them. A usage error (exit 2, commander's) shows
      // the caller the argument it refused, so what the command line itself carries may be there.
      for (const { what, args, ran } of failures) {
        const echoed = (value: string) => ran.code === 2 && args.some((a) => a.includes(value));
        const canaries = Object.fromEntries(Object.entries({ ...secrets, payload: C.payload, result: C.result }).filter(([, v]) => !echoed(v)));
        for (const k of found(ran.stdout + ran.stderr, canaries)) leaks.push(`cli ${what} (exit ${ran.code}): ${k} in ${ran.stderr.slice(0, 300)}`);
      }
      expect(leaks).toEqual([]);
      // The owner did see its own payload and result: the search of answers is not blind.
      expect(answers.filter((a) => a.audience === 'owner' && a.text.includes(C.payload) && a.text.includes(C.result))).not.toHaveLength(0);
    } finally {
      await database.close();
    }
  }, 120_000);
});
