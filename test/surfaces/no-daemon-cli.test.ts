// The real `sandfleet` binary against a database no daemon serves: `tasks show` says why the task
// waits, `tasks wait` says once that no daemon is alive and keeps waiting (here until its
// timeout), and `pools ls` says so under its table and in its JSON.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks } from '../support/fixtures.js';
import { runCli } from './process.js';

const t = useTestDatabase('no_daemon_cli', 4);
// No config: the CLI takes DATABASE_URL.
const cli = (...args: string[]) => runCli(args, { DATABASE_URL: t.url });

describe('the CLI with no daemon alive', () => {
  it('tasks show and tasks wait say no-daemon; pools ls says so under its table and in --json', async () => {
    const pool = (await addPool(t.db)).name;
    const [task] = await queueTasks(t.db, pool, 1);
    const shown = await cli('tasks', 'show', task!.id, '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ state: 'queued', waiting_reason: 'no-daemon', events: [expect.objectContaining({ kind: 'create', to: 'queued' })] });

    const waited = await cli('tasks', 'wait', task!.id, '--timeout', '2');
    expect(waited.code).toBe(1);
    expect(waited.stderr.match(/no daemon is alive/g)).toHaveLength(1);
    expect(waited.stderr).toMatch(/queued \(no-daemon\)/);
    expect(waited.stderr).toMatch(/still queued after 2s/);

    const pools = await cli('pools', 'ls');
    expect(pools.stdout).toMatch(/NAME[\s\S]*\nno daemon is alive/);
    expect(JSON.parse((await cli('pools', 'ls', '--json')).stdout)).toMatchObject({ items: [expect.objectContaining({ name: pool })], next_cursor: null, live_daemons: 0 });
  });
});
