// The README's quick start, as a user runs it: the daemon on the example config against a
// database that does not exist yet answers /readyz, then `tokens create`, `tasks submit` and
// `tasks wait` complete a task on the sim provider; and every CLI command of docs/api.md, spawned as
// the real binary, with --json and its exit codes.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase } from '../../src/db/index.js';
import { freePort, runCli, startDaemonProcess, waitReady } from './process.js';
import { until } from '../support/until.js';

const name = `sf_test_quickstart_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
let daemon: ReturnType<typeof startDaemonProcess>;
let port = 0;
/** The quick start's task, completed: later tests read its history. */
let completedTask = '';
const env = () => ({ DATABASE_URL: url.toString(), SANDFLEET_PORT: String(port), SANDFLEET_LOG_LEVEL: 'warn', SANDFLEET_CONFIG: 'sandfleet.example.yaml' });
const cli = (...args: string[]) => runCli(args, env());
const json = async (...args: string[]) => {
  const ran = await cli(...args, '--json');
  if (ran.code !== 0) throw new Error(`sandfleet ${args.join(' ')} exited ${ran.code}: ${ran.stderr}`);
  return JSON.parse(ran.stdout);
};

beforeAll(async () => {
  port = await freePort();
  daemon = startDaemonProcess(['--config', 'sandfleet.example.yaml'], env());
  // The quick start promises /readyz within 30 s; the figure is printed, not asserted (a loaded
  // CI machine is slower, and tests never fail on wall-clock speed).
  const ms = await waitReady(port, 120_000, daemon.output);
  console.log(`quick start: /readyz answered ${ms} ms after the daemon was spawned (fresh database)`);
}, 130_000);
afterAll(async () => {
  daemon?.child.kill('SIGTERM');
  await daemon?.exited;
  await dropDatabase(url.toString(), name);
}, 40_000);

describe('quick start', () => {
  it('creates a token, submits a task and waits for it to complete', async () => {
    const token = await json('tokens', 'create', '--role', 'submitter', '--name', 'quickstart');
    expect(token.token).toMatch(/^sf_/);
    const task = await json('tasks', 'submit', '--pool', 'linux-sandbox', '--payload', '{"sample":"a.exe"}');
    // Queued, or already leased when a warm machine was ready to take it.
    expect(task).toMatchObject({ state: expect.stringMatching(/^(queued|assigned)$/), pool: 'linux-sandbox', created: true });
    const waited = await cli('tasks', 'wait', task.id, '--timeout', '60');
    expect(waited.code).toBe(0);
    completedTask = task.id;
    expect(waited.stderr).toMatch(/completed/);
    // The same token works against the REST API.
    const response = await fetch(`http://127.0.0.1:${port}/v1/tasks/${task.id}`, { headers: { authorization: `Bearer ${token.token}` } });
    expect(((await response.json()) as { state: string }).state).toBe('completed');
  });
});

describe('CLI commands', () => {
  it('tasks ls/show/cancel, with --json, and wait exits 1 for a task that did not complete', async () => {
    const task = await json('tasks', 'submit', '--pool', 'windows-reimage', '--payload', '{"sim":{"durationMs":3600000}}', '--idempotency-key', 'cli-1');
    const replay = await json('tasks', 'submit', '--pool', 'windows-reimage', '--payload', '{"sim":{"durationMs":3600000}}', '--idempotency-key', 'cli-1');
    expect([replay.id, replay.created]).toEqual([task.id, false]);
    expect((await json('tasks', 'show', task.id)).id).toBe(task.id);
    const page = await json('tasks', 'ls', '--pool', 'windows-reimage', '--limit', '1');
    expect(page.items.map((t: { id: string }) => t.id)).toEqual([task.id]);
    expect((await cli('tasks', 'ls')).stdout).toMatch(/^ID\s+STATE/);
    expect((await json('tasks', 'cancel', task.id)).state).toBe('canceled');
    const waited = await cli('tasks', 'wait', task.id);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/canceled/);
  });

  it('machines ls/show (with history)/drain and pools ls', async () => {
    const pools = await json('pools', 'ls');
    expect(pools.items.map((p: { name: string }) => p.name).sort()).toEqual(['linux-sandbox', 'windows-reimage']);
    expect([pools.next_cursor, pools.live_daemons]).toEqual([null, 1]);
    let ready: { id: string }[] = [];
    for (let i = 0; i < 100 && ready.length === 0; i++) {
      ready = (await json('machines', 'ls', '--pool', 'linux-sandbox', '--state', 'ready')).items;
      if (ready.length === 0) await new Promise((r) => setTimeout(r, 300));
    }
    expect(ready.length).toBeGreaterThan(0);
    const shown = await cli('machines', 'show', ready[0]!.id);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/history:[\s\S]*provisioning[\s\S]*booting[\s\S]*ready/);
    expect((await json('machines', 'drain', ready[0]!.id)).state).toBe('draining');
    // Draining again while it retires is a no-op; once its instance is confirmed stopped and
    // deleted, the machine is gone and a drain fails.
    const again = await cli('machines', 'drain', ready[0]!.id, '--json');
    if (again.code === 0) expect(JSON.parse(again.stdout).state).toMatch(/^(draining|stopping|stopped|released|deleting)$/);
    let gone = again.code === 1;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 300));
      gone = (await cli('machines', 'drain', ready[0]!.id)).code === 1;
    }
    expect(gone).toBe(true);
    // Its row is gone; its history is not.
    const deleted = await json('machines', 'show', ready[0]!.id);
    expect(deleted).toMatchObject({ id: ready[0]!.id, state: 'deleted', pool: 'linux-sandbox', provider_id: expect.any(String) });
    expect(deleted.events.at(-1)).toMatchObject({ kind: 'finalize', to: 'deleted' });
    const newest = await json('machines', 'events', ready[0]!.id, '--limit', '2');
    expect([newest.items.map((e: { to: string }) => e.to), typeof newest.next_cursor]).toEqual([['deleted', 'deleting'], 'string']);
    expect((await json('machines', 'ls', '--all', '--limit', '1')).next_cursor).toBeNull();
  });

  it('daemons ls shows the daemon alive and leading both pools; tasks show gives a task its history', async () => {
    let daemons: { items: { alive: boolean; leads: string[]; pid: number }[] } = { items: [] };
    await until(async () => {
      daemons = await json('daemons', 'ls');
      return daemons.items[0]?.leads.length === 2;
    }, 60_000);
    expect(daemons.items).toEqual([expect.objectContaining({ alive: true, leads: ['linux-sandbox', 'windows-reimage'], pid: daemon.child.pid })]);
    expect((await cli('daemons', 'ls')).stdout).toMatch(/ALIVE\s+LEADS[\s\S]*yes\s+linux-sandbox windows-reimage/);
    const shown = await cli('tasks', 'show', completedTask);
    expect(shown.stdout).toMatch(/waiting_reason\s+-[\s\S]*history:[\s\S]*create\s+- → queued[\s\S]*assign[\s\S]*complete\s+running → completed/);
    const history = await json('tasks', 'show', completedTask);
    expect(history.events.map((e: { kind: string }) => e.kind)).toEqual(['create', 'assign', 'start', 'complete']);
    expect(new Set(history.events.slice(1).map((e: { machine_id: string }) => e.machine_id))).toEqual(new Set([history.machine_id]));
  });

  it('tokens ls/revoke and config check', async () => {
    const token = await json('tokens', 'create', '--role', 'operator');
    expect((await json('tokens', 'ls', '--all')).items.some((t: { id: string; token?: string }) => t.id === token.id && t.token === undefined)).toBe(true);
    expect((await json('tokens', 'revoke', token.id)).revoked_at).not.toBeNull();
    // An expiring token says when; ls shows it beside the last use.
    const expiring = await json('tokens', 'create', '--role', 'submitter', '--expires-in', '30d');
    expect(Date.parse(expiring.expires_at) - Date.now()).toBeGreaterThan(29.9 * 86_400_000);
    expect((await json('tokens', 'ls', '--all')).items.find((t: { id: string }) => t.id === expiring.id)).toMatchObject({ expires_at: expiring.expires_at, last_used_at: null });
    const bad = await cli('tokens', 'create', '--role', 'submitter', '--expires-in', '30 days');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--expires-in.*30d.*"30 days"/)]);
    expect((await json('config', 'check')).pools).toHaveLength(2);
  });

  it('tokens and tasks of a tenant: tokens create --tenant, tasks submit --tenant, tasks ls --tenant; an undeclared tenant is named', async () => {
    const token = await json('tokens', 'create', '--role', 'submitter', '--tenant', 'research', '--name', 'research-bot');
    expect(token.tenant).toBe('research');
    expect((await json('tokens', 'ls', '--all')).items.find((t: { id: string }) => t.id === token.id)).toMatchObject({ tenant: 'research' });
    const task = await json('tasks', 'submit', '--pool', 'windows-reimage', '--tenant', 'research', '--payload', '{"sim":{"durationMs":1}}');
    expect(task.tenant).toBe('research');
    const page = await json('tasks', 'ls', '--tenant', 'research');
    expect(page.items.map((t: { id: string }) => t.id)).toContain(task.id);
    expect(new Set(page.items.map((t: { tenant: string }) => t.tenant))).toEqual(new Set(['research']));
    const unknown = await cli('tokens', 'create', '--role', 'submitter', '--tenant', 'nobody');
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no tenant named "nobody" \(tenants: default, research\); declare it under `tenants:`/)]);
  });

  it('check without a config finds the cluster the daemon serves, lists its instances and reports no violation', async () => {
    // No --config and no SANDFLEET_CONFIG: the CLI finds no sandfleet.yaml here, as in a fresh clone.
    const { SANDFLEET_CONFIG: _config, ...bare } = env();
    // A short grace, so instances the check could not see (a wrong cluster) would show at once.
    const ran = await runCli(['check', '--orphan-grace-s', '5', '--json'], bare);
    expect(ran.code, ran.stdout + ran.stderr).toBe(0);
    const report = JSON.parse(ran.stdout);
    expect(report).toMatchObject({ ok: true, cluster: 'sandfleet-dev', violations: [] });
    expect(report.checked.instances).toBeGreaterThan(0);
  });

  it('exits 2 on bad usage and 1 on a failed operation, saying what to do', async () => {
    expect((await cli('tasks', 'show', 'not-a-uuid')).code).toBe(2);
    expect((await cli('tokens', 'create', '--role', 'root')).code).toBe(2);
    expect((await cli('tasks', 'submit', '--payload', '[1]')).code).toBe(2);
    const nul = await cli('tasks', 'submit', '--payload', '{"sample": {"name": "a\\u0000"}}');
    expect([nul.code, nul.stderr]).toEqual([2, expect.stringMatching(/payload\.sample\.name holds a NUL/)]);
    expect((await cli('no-such-command')).code).toBe(2);
    const missing = await cli('tasks', 'show', '00000000-0000-4000-8000-000000000000');
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/no task with id/)]);
    const unserviceable = await cli('tasks', 'submit', '--pool', 'nope');
    expect([unserviceable.code, unserviceable.stderr]).toEqual([1, expect.stringMatching(/nope/)]);
    const down = await runCli(['pools', 'ls'], { ...env(), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect([down.code, down.stderr]).toEqual([1, expect.stringMatching(/cannot reach PostgreSQL.*start it/i)]);
  });
});
