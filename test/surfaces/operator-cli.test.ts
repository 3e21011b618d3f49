// What an operator meets at the command line and the daemon's front door, through the real
// binary and real HTTP: --version, shell completion (run in a real bash), ids by their first
// characters, `pools ls --watch`, the daemon's log formats (pretty by default at a terminal),
// GET / and the 422 that names the pools, and `config check --json` on a bad file, an inverted
// duration range, a password in the file or a bad DATABASE_URL.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, openDatabase } from '../../src/db/index.js';
import { AmbiguousIdPrefix, NotFound } from '../../src/scheduler/service/errors.js';
import { resolveTaskId } from '../../src/scheduler/service/id-prefix.js';
import type { ServiceContext } from '../../src/scheduler/service/service.js';
import { until } from '../support/until.js';
import { BIN, freePort, ROOT, runCli, startDaemonProcess, waitReady } from './process.js';

const name = `sf_test_operator_cli_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
const scratch = mkdtempSync(path.join(tmpdir(), 'sandfleet-operator-cli-'));
let daemon: ReturnType<typeof startDaemonProcess>;
let port = 0;
const env = () => ({ DATABASE_URL: url.toString(), SANDFLEET_PORT: String(port), SANDFLEET_LOG_LEVEL: 'info', SANDFLEET_CONFIG: 'sandfleet.example.yaml' });
const cli = (...args: string[]) => runCli(args, env());
const json = async (...args: string[]) => {
  const ran = await cli(...args, '--json');
  if (ran.code !== 0) throw new Error(`sandfleet ${args.join(' ')} exited ${ran.code}: ${ran.stderr}`);
  return JSON.parse(ran.stdout);
};
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

beforeAll(async () => {
  port = await freePort();
  // Pretty through the flag: a test's stdout is never a terminal, where it would be the default.
  daemon = startDaemonProcess(['--config', 'sandfleet.example.yaml'], env(), ['--log-format', 'pretty']);
  await waitReady(port, 120_000, daemon.output);
}, 130_000);
afterAll(async () => {
  daemon?.child.kill('SIGTERM');
  await daemon?.exited;
  await dropDatabase(url.toString(), name);
  rmSync(scratch, { recursive: true, force: true });
}, 40_000);

describe('--version', () => {
  it('prints package.json\'s version, as text or with --json', async () => {
    for (const flag of ['--version', '-V']) {
      const ran = await runCli([flag], {});
      expect([ran.code, ran.stdout.trim()]).toEqual([0, VERSION]);
    }
    const asJson = await runCli(['--version', '--json'], {});
    expect([asJson.code, JSON.parse(asJson.stdout)]).toEqual([0, { version: VERSION }]);
  });
});

describe('shell completion', () => {
  it('the bash script, sourced in bash, completes commands, subcommands and options', async () => {
    const script = path.join(scratch, 'sandfleet.bash');
    const generated = await runCli(['completion', 'bash'], {});
    expect(generated.code).toBe(0);
    writeFileSync(script, generated.stdout);
    // COMP_WORDS/COMP_CWORD as bash sets them when TAB is pressed after the last word.
    const complete = (...words: string[]) => {
      const driver = `source ${JSON.stringify(script)}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sandfleet; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const ran = spawnSync('bash', ['--norc', '-c', driver], { encoding: 'utf8' });
      expect(ran.stderr).toBe('');
      return ran.stdout.split('\n').filter(Boolean);
    };
    expect(complete('sandfleet', 'ta')).toEqual(['tasks']);
    expect(complete('sandfleet', 'tasks', 's')).toEqual(['submit', 'show']);
    expect(complete('sandfleet', 'tasks', 'submit', '--po')).toEqual(['--pool']);
    // An option's value is not taken for a command: the path is still `pools ls`.
    expect(complete('sandfleet', '--config', 'x.yaml', 'pools', 'ls', '--w')).toEqual(['--watch']);
    expect(complete('sandfleet', 'completion', '')).toEqual([]);
    expect(complete('sandfleet', '')).toContain('completion');
  });

  it('zsh and fish scripts name every command; an unknown shell is bad usage', async () => {
    for (const shell of ['zsh', 'fish']) {
      const ran = await runCli(['completion', shell, '--json'], {});
      expect(ran.code).toBe(0);
      const { script } = JSON.parse(ran.stdout) as { script: string };
      for (const command of ['tasks', 'machines', 'pools', 'tokens', 'completion']) expect(script).toContain(command);
      // Parsed by the shell itself where it is installed.
      const file = path.join(scratch, `sandfleet.${shell}`);
      writeFileSync(file, script);
      const check = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      if (!check.error) expect([check.status, check.stderr]).toEqual([0, '']);
      if (shell === 'fish' && !check.error) {
        const complete = (line: string) => {
          const ran = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C${JSON.stringify(line)}`], { encoding: 'utf8' });
          expect(ran.stderr).toBe('');
          return ran.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
        };
        expect(complete('sandfleet tasks s').sort()).toEqual(['show', 'submit']);
        expect(complete('sandfleet -c x.yaml pools ls --w')).toEqual(['--watch']);
      }
    }
    const bad = await runCli(['completion', 'tcsh', '--json'], {});
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/tcsh.*bash, zsh, fish/)]);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: expect.stringMatching(/tcsh/) });
  });
});

describe('ids by their first characters', () => {
  const withDb = async <T>(work: (db: ReturnType<typeof openDatabase>) => Promise<T>): Promise<T> => {
    const database = openDatabase({ url: url.toString(), max: 1 });
    try {
      return await work(database);
    } finally {
      await database.close();
    }
  };
  const insertTask = (id: string, tenant = 'default') =>
    withDb((d) => d.pool.query(`INSERT INTO tasks (id, tenant, pool, state, finished_at) VALUES ($1, $2, 'windows-reimage', 'canceled', now())`, [id, tenant]));

  it('tokens revoke, tasks show/cancel/wait and machines show take 8 or more hex digits; too few is exit 2, none exit 1', async () => {
    const token = await json('tokens', 'create', '--role', 'operator', '--name', 'prefix');
    expect((await json('tokens', 'revoke', token.id.slice(0, 8))).id).toBe(token.id);
    const short = await cli('tokens', 'revoke', token.id.slice(0, 7));
    expect([short.code, short.stderr]).toEqual([2, expect.stringMatching(/at least 8 hex digits/)]);

    const task = 'c0ffee01-0000-4000-8000-000000000001';
    await insertTask(task);
    expect((await json('tasks', 'show', 'c0ffee01')).id).toBe(task);
    expect((await json('tasks', 'show', 'C0FFEE01-0000')).id).toBe(task);
    expect((await json('tasks', 'cancel', 'c0ffee01')).state).toBe('canceled');
    const waited = await cli('tasks', 'wait', 'c0ffee01');
    expect([waited.code, waited.stderr]).toEqual([1, expect.stringMatching(new RegExp(`task ${task} ended canceled`))]);

    const none = await cli('tasks', 'show', 'deadbeef', '--json');
    expect([none.code, none.stderr]).toEqual([1, expect.stringMatching(/no task with id prefix deadbeef/)]);
    expect(JSON.parse(none.stdout)).toEqual({ ok: false, error: 'no task with id prefix deadbeef' });

    let ready: { id: string }[] = [];
    await until(async () => (ready = (await json('machines', 'ls', '--state', 'ready')).items).length > 0, 60_000, undefined, 500);
    expect((await json('machines', 'show', ready[0]!.id.slice(0, 8))).id).toBe(ready[0]!.id);
  }, 120_000);

  it('a prefix of several ids is bad usage listing them', async () => {
    const ids = ['facade01-0000-4000-8000-000000000001', 'facade01-0000-4000-8000-000000000002'];
    for (const id of ids) await insertTask(id);
    const ran = await cli('tasks', 'show', 'facade01', '--json');
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/id prefix facade01 starts 2 task ids: .*give more of the id/);
    for (const id of ids) expect(ran.stderr).toContain(id);
    expect(JSON.parse(ran.stdout)).toMatchObject({ ok: false, matches: ids });
    expect((await json('tasks', 'show', 'facade01-0000-4000-8000-000000000002')).id).toBe(ids[1]);
  });

  it('a submitter resolves a prefix among its own tenant\'s tasks only', async () => {
    const mine = 'feed0001-0000-4000-8000-000000000001';
    const theirs = 'feed0001-0000-4000-8000-000000000002';
    await insertTask(mine, 'default');
    await insertTask(theirs, 'research');
    await withDb(async ({ db }) => {
      const as = (only: string | null) => ({ db, scope: { tenant: { name: only ?? 'default', maxQueued: null }, only } }) as unknown as ServiceContext;
      expect(await resolveTaskId(as('default'), 'feed0001')).toBe(mine);
      expect(await resolveTaskId(as('research'), 'feed0001')).toBe(theirs);
      await expect(resolveTaskId(as(null), 'feed0001')).rejects.toBeInstanceOf(AmbiguousIdPrefix);
      await expect(resolveTaskId(as('other'), 'feed0001')).rejects.toBeInstanceOf(NotFound);
    });
  });
});

describe('pools ls --watch', () => {
  /** Spawns the watch, waits for `snapshots` of them, interrupts it; its exit code and output. */
  const watchUntil = async (args: string[], snapshots: (out: string) => number) => {
    const child = spawn(process.execPath, [BIN, 'pools', 'ls', '--watch', '--interval', '0.3', ...args], { cwd: ROOT, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => Promise.resolve(snapshots(out) >= 2), 60_000, () => Promise.resolve(out));
    child.kill('SIGINT');
    return { code: await exited, out };
  };

  it('prints a snapshot every interval until SIGINT, then exits 0', async () => {
    const text = await watchUntil([], (out) => out.match(/^every 0\.3s: sandfleet pools ls/gm)?.length ?? 0);
    expect(text.code, text.out).toBe(0);
    expect(text.out).toMatch(/NAME\s+PROVIDER[\s\S]*linux-sandbox[\s\S]*\n\nevery 0\.3s[\s\S]*linux-sandbox/);

    const lines = await watchUntil(['--json'], (out) => out.split('\n').filter((l) => l.startsWith('{')).length);
    expect(lines.code, lines.out).toBe(0);
    for (const line of lines.out.split('\n').filter(Boolean)) expect((JSON.parse(line) as { items: { name: string }[] }).items.map((p) => p.name)).toContain('linux-sandbox');
  }, 120_000);
});

describe('the daemon', () => {
  it('logs pretty lines with --log-format pretty, JSON lines with json, and refuses another format', async () => {
    await until(() => Promise.resolve(/INFO.*starting/.test(daemon.output())), 30_000, () => Promise.resolve(daemon.output().slice(0, 2000)));
    expect(daemon.output()).not.toMatch(/^\{"level"/m);

    const other = startDaemonProcess(['--config', 'sandfleet.example.yaml'], { ...env(), SANDFLEET_PORT: String(await freePort()) }, ['--log-format', 'json']);
    try {
      // Its stdout and stderr together: a runtime warning on stderr may come first.
      const starting = () => other.output().split('\n').find((line) => line.includes('"msg":"starting"'));
      await until(() => Promise.resolve(starting() !== undefined), 60_000, () => Promise.resolve(other.output()));
      expect(JSON.parse(starting()!)).toMatchObject({ level: 30, msg: 'starting', service: 'sandfleet' });
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }

    const bad = await cli('daemon', '--log-format', 'xml');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/xml.*json, pretty/)]);
  }, 120_000);

  it('logs pretty lines without the flag when its stdout is a terminal (run under script(1), which gives it a pty)', () => {
    // A database that refuses connections: the daemon logs its start, then exits on its own.
    const command = `exec ${process.execPath} ${BIN} --config sandfleet.example.yaml daemon`;
    const ran = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, ...env(), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(ran.status, ran.stdout).toBe(1);
    expect(ran.stdout).toMatch(/INFO.*starting/);
    expect(ran.stdout).not.toMatch(/"msg":"starting"/);
    expect(ran.stdout).toMatch(/cannot reach PostgreSQL.*set DATABASE_URL/);
  }, 70_000);

  it('refuses a DATABASE_URL that is not a URL, naming the variable', async () => {
    const ran = await runCli(['--config', 'sandfleet.example.yaml', 'daemon'], { ...env(), DATABASE_URL: 'garbage' });
    expect([ran.code, ran.stderr]).toEqual([1, expect.stringMatching(/DATABASE_URL: is not a postgres URL; expected postgres:\/\//)]);
  });

  it('GET / redirects to the interactive docs', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
    expect([response.status, response.headers.get('location')]).toEqual([302, '/docs']);
  });

  it('a submission to a pool that is not there names the active pools, over REST and in the CLI', async () => {
    const { token } = await json('tokens', 'create', '--role', 'submitter');
    const response = await fetch(`http://127.0.0.1:${port}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pool: 'nope', payload: {} }),
    });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ type: expect.stringMatching(/unserviceable$/), detail: 'no active pool named "nope" (active pools: linux-sandbox, windows-reimage)' });
    const ran = await cli('tasks', 'submit', '--pool', 'nope');
    expect([ran.code, ran.stderr.trim()]).toEqual([1, 'sandfleet: no active pool named "nope" (active pools: linux-sandbox, windows-reimage)']);
  });
});

describe('config check --json', () => {
  const check = (file: string, extra: Record<string, string> = {}) => runCli(['--config', file, 'config', 'check', '--json'], { DATABASE_URL: '', REDIS_URL: '', ...extra });

  it('prints {ok: false, errors} for a mis-indented line (one error, at its line), a missing file and a bad DATABASE_URL or REDIS_URL', async () => {
    const misindented = path.join(scratch, 'misindented.yaml');
    writeFileSync(misindented, readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8').replace('    min_ready: 1\n', '  min_ready: 1\n'));
    const ran = await check(misindented);
    expect(ran.code).toBe(1);
    const report = JSON.parse(ran.stdout) as { ok: boolean; errors: { field: string; line: number; message: string }[] };
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ line: 44, message: expect.stringMatching(/" {2}min_ready: 1".*indentation/) });

    const missing = await check(path.join(scratch, 'nowhere.yaml'));
    expect([missing.code, JSON.parse(missing.stdout)]).toEqual([1, expect.objectContaining({ ok: false, errors: [{ field: '(file)', message: expect.stringMatching(/no such file/) }] })]);

    for (const [variable, value] of [['DATABASE_URL', 'garbage'], ['REDIS_URL', 'http://cache:6379']] as const) {
      const bad = await check('sandfleet.example.yaml', { [variable]: value });
      expect(bad.code).toBe(1);
      expect((JSON.parse(bad.stdout) as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual([variable]);
      expect(bad.stderr).toContain(`${variable}: is not a`);
      expect(bad.stderr).not.toContain(value);
    }
  });

  it('refuses max_duration_ms below min_duration_ms, and names the variable a URL with a password belongs in', async () => {
    const example = readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8');
    const inverted = path.join(scratch, 'inverted.yaml');
    writeFileSync(inverted, example.replace('max_duration_ms: 3000', 'max_duration_ms: 400'));
    const ran = await check(inverted);
    expect(ran.code).toBe(1);
    expect((JSON.parse(ran.stdout) as { errors: unknown[] }).errors).toEqual([
      { field: 'pools[0].runner.min_duration_ms', line: 53, message: 'min_duration_ms (500) must not exceed max_duration_ms (400)' },
    ]);

    const secret = `pw${Date.now()}`;
    const withPassword = path.join(scratch, 'password.yaml');
    const inFile = new URL('postgres://db:5432/sandfleet');
    [inFile.username, inFile.password] = ['sandfleet', secret];
    writeFileSync(withPassword, example.replace(/^ {2}# url: postgres:.*$/m, `  url: ${inFile.toString()}`));
    const refused = await check(withPassword);
    expect(refused.code).toBe(1);
    const errors = (JSON.parse(refused.stdout) as { errors: { field: string; message: string }[] }).errors;
    expect(errors).toEqual([{ field: 'database.url', message: expect.stringMatching(/carries a password.*in DATABASE_URL instead/) }]);
    expect(refused.stdout + refused.stderr).not.toContain(secret);
  });
});
