// The harness's reads of the run's database (machines by pool and state, tasks of a phase,
// submit → start times), as the observer role so pg_stat_statements tells them apart and they
// are subtracted from the window's transactions. Tasks are found by the `phase` their payload
// carries. Only columns the REST API also shows (state, created_at, started_at, finished_at).
import pg from 'pg';

export interface PhaseProgress {
  submitted: number;
  started: number;
  finished: number;
  completed: number;
  /** Ended otherwise: failed, timed out, canceled. */
  unsuccessful: number;
  running: number;
}

export class Observer {
  private constructor(private readonly client: pg.Client) {}

  static async connect(url: string): Promise<Observer> {
    const client = new pg.Client({ connectionString: url, application_name: 'bench-fleet-observer' });
    await client.connect();
    return new Observer(client);
  }

  /** The catalog reader for the attribution; the same connection. */
  get connection(): pg.Client {
    return this.client;
  }

  async close(): Promise<void> {
    await this.client.end();
  }

  async now(): Promise<number> {
    const r = await this.client.query<{ at: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS at');
    return Number(r.rows[0]?.at);
  }

  /** Ready machines per pool. */
  async readyByPool(): Promise<Map<string, number>> {
    const r = await this.client.query<{ pool: string; n: number }>(`SELECT pool, count(*)::int AS n FROM machines WHERE state = 'ready' GROUP BY pool`);
    return new Map(r.rows.map((row) => [row.pool, row.n]));
  }

  async progress(phase: string): Promise<PhaseProgress> {
    const r = await this.client.query<Record<keyof PhaseProgress, number>>(
      `SELECT count(*)::int AS submitted,
              count(started_at)::int AS started,
              count(finished_at)::int AS finished,
              count(*) FILTER (WHERE state = 'completed')::int AS completed,
              count(*) FILTER (WHERE state IN ('failed', 'timed_out', 'canceled'))::int AS unsuccessful,
              count(*) FILTER (WHERE state = 'running')::int AS running
       FROM tasks WHERE payload->>'phase' = $1`,
      [phase],
    );
    return r.rows[0]!;
  }

  /**
   * Why a phase's tasks have not finished: unfinished tasks by their state and their machine's,
   * with the oldest machine state change, and one such task's history and its machine's.
   */
  async unfinished(phase: string): Promise<string> {
    const groups = await this.client.query<{ task: string; machine: string | null; n: number; oldest_s: number | null }>(
      `SELECT t.state AS task, m.state AS machine, count(*)::int AS n,
              round(max(extract(epoch FROM clock_timestamp() - m.state_changed_at)))::int AS oldest_s
       FROM tasks t LEFT JOIN machines m ON m.id = t.machine_id
       WHERE t.payload->>'phase' = $1 AND t.finished_at IS NULL GROUP BY 1, 2 ORDER BY n DESC`,
      [phase],
    );
    const one = await this.client.query<{ id: string; machine_id: string | null }>(`SELECT id, machine_id FROM tasks WHERE payload->>'phase' = $1 AND finished_at IS NULL ORDER BY created_at LIMIT 1`, [phase]);
    const lines = groups.rows.map((g) => `task ${g.task}, machine ${g.machine ?? 'none'}: ${g.n} (oldest machine state ${g.oldest_s ?? '?'} s old)`);
    const first = one.rows[0];
    if (first) {
      const history = await this.client.query<{ entity: string; step: string; actor: string; reason: string | null; at: string }>(
        `SELECT entity, coalesce(from_state, '-') || '->' || to_state AS step, actor, reason, to_char(at, 'HH24:MI:SS.MS') AS at
         FROM events WHERE entity_id = ANY($1::uuid[]) ORDER BY id`,
        [[first.id, first.machine_id].filter((id): id is string => id !== null)],
      );
      lines.push(`oldest unfinished task ${first.id} on machine ${first.machine_id ?? 'none'}:`, ...history.rows.map((e) => `  ${e.at} ${e.entity} ${e.step} by ${e.actor}${e.reason ? ` (${e.reason})` : ''}`));
    }
    return lines.join('\n');
  }

  async running(): Promise<number> {
    const r = await this.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE state = 'running'`);
    return r.rows[0]?.n ?? 0;
  }

  /** Tasks that finished in [from, to] (epoch ms), any phase. */
  async finishedBetween(from: number, to: number): Promise<number> {
    const r = await this.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE finished_at BETWEEN to_timestamp($1 / 1000.0) AND to_timestamp($2 / 1000.0)`, [from, to]);
    return r.rows[0]?.n ?? 0;
  }

  /**
   * submit → start in ms of the phase's tasks created in [from, to] (epoch ms). A task not
   * started yet counts with the time it has waited so far (`started: false`): a lower bound.
   */
  async startLatencies(phase: string, from = 0, to = Number.MAX_SAFE_INTEGER / 2): Promise<{ ms: number; started: boolean }[]> {
    const r = await this.client.query<{ ms: number; started: boolean }>(
      `SELECT (extract(epoch FROM coalesce(started_at, clock_timestamp()) - created_at) * 1000)::float8 AS ms, started_at IS NOT NULL AS started FROM tasks
       WHERE payload->>'phase' = $1 AND created_at BETWEEN to_timestamp($2 / 1000.0) AND to_timestamp($3 / 1000.0)`,
      [phase, from, to],
    );
    return r.rows.map((row) => ({ ms: Number(row.ms), started: row.started }));
  }

  /** First and last submission, first and last start of the phase (epoch ms). */
  async phaseTimes(phase: string): Promise<{ firstCreated: number; lastCreated: number; firstStarted: number; lastStarted: number }> {
    const r = await this.client.query<{ c0: number; c1: number; s0: number; s1: number }>(
      `SELECT (extract(epoch FROM min(created_at)) * 1000)::float8 AS c0, (extract(epoch FROM max(created_at)) * 1000)::float8 AS c1,
              (extract(epoch FROM min(started_at)) * 1000)::float8 AS s0, (extract(epoch FROM max(started_at)) * 1000)::float8 AS s1
       FROM tasks WHERE payload->>'phase' = $1`,
      [phase],
    );
    const row = r.rows[0];
    return { firstCreated: Number(row?.c0), lastCreated: Number(row?.c1), firstStarted: Number(row?.s0), lastStarted: Number(row?.s1) };
  }
}
