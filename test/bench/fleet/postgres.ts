// A PostgreSQL cluster of the run's own (initdb on a free port, as test/chaos/environment.ts
// does) with pg_stat_statements preloaded, which the shared server cannot have. Its processes
// are all the run's, so their CPU time is the database's share of the run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../support/ports.js';

export const PG_BIN = process.env.PG_BIN ?? `/usr/lib/postgresql/${readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0] ?? '15'}/bin`;

/** The role the harness reads with, so its own statements can be told apart from the daemons'. */
export const OBSERVER = 'fleet_observer';
/** The role the daemons (and the CLI) connect as. */
export const DAEMON_ROLE = 'postgres';

/** initdb refuses to run as root; PostgreSQL's own user runs it then. */
function asPostgres(command: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  execFileSync(root ? 'runuser' : command, root ? ['-u', 'postgres', '--', command, ...args] : args, { stdio: 'pipe' });
}

export class StatsPostgres {
  private stopped = false;

  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly maxConnections: number,
  ) {}

  /** `maxConnections`: room for every daemon's whole pool plus the harness's and the CLI's clients. */
  static async start(maxConnections: number): Promise<StatsPostgres> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-fleet-pg-'));
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
    const cluster = new StatsPostgres(dir, await freePort(), maxConnections);
    try {
      asPostgres(`${PG_BIN}/initdb`, ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
      cluster.ctl('start');
      await cluster.prepare();
    } catch (error) {
      cluster.stop();
      throw error;
    }
    return cluster;
  }

  url(database: string, user = DAEMON_ROLE): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  /** The postmaster's pid; every other server process is its child. */
  get pid(): number {
    return Number(readFileSync(path.join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  /** A connection to the maintenance database, as the observer: statistics are read from here. */
  async connect(database = 'postgres'): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url(database, OBSERVER), application_name: 'bench-fleet' });
    await client.connect();
    return client;
  }

  async createDatabase(name: string): Promise<void> {
    const client = await this.connect();
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
  }

  async version(): Promise<string> {
    const client = await this.connect();
    try {
      const r = await client.query<{ version: string }>('SELECT version()');
      return r.rows[0]?.version.split(' on ')[0] ?? 'unknown';
    } finally {
      await client.end();
    }
  }

  /** Idempotent and synchronous, so a Ctrl-C handler can call it too. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.ctl('stop', ['-m', 'immediate']);
    } catch {
      // not running (start failed): only the directory is left
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private async prepare(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE ROLE ${OBSERVER} LOGIN SUPERUSER`);
      await client.query('CREATE EXTENSION pg_stat_statements');
    } finally {
      await client.end();
    }
  }

  private ctl(action: string, extra: string[] = []): void {
    const settings = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      // As the chaos cluster: no disk flushes on a machine other people's tests share.
      '-c fsync=off',
      '-c synchronous_commit=off',
      `-c max_connections=${this.maxConnections}`,
      '-c shared_preload_libraries=pg_stat_statements',
      // Room for every distinct statement of a run, so none is evicted between two snapshots.
      '-c pg_stat_statements.max=20000',
      '-c pg_stat_statements.track=top',
      '-c pg_stat_statements.track_utility=on',
    ].join(' ');
    asPostgres(`${PG_BIN}/pg_ctl`, ['-D', path.join(this.dir, 'data'), '-o', settings, '-l', path.join(this.dir, 'log'), '-w', ...extra, action]);
  }
}
