// The chaos run's own PostgreSQL cluster (initdb on a free port, restartable), so it can be
// broken freely; its Redis is test/support's PrivateRedis.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.js';

// Debian's layout: /usr/lib/postgresql/<major>/bin; the newest installed major, or $PG_BIN.
const PG_BIN = process.env.PG_BIN ?? `/usr/lib/postgresql/${readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0] ?? '15'}/bin`;

/** initdb refuses to run as root; PostgreSQL's own user runs it then. */
function asPostgres(command: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  execFileSync(root ? 'runuser' : command, root ? ['-u', 'postgres', '--', command, ...args] : args, { stdio: 'pipe' });
}

export class PrivatePostgres {
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-chaos-pg-'));
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
    asPostgres(`${PG_BIN}/initdb`, ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const pg = new PrivatePostgres(dir, await freePort());
    pg.ctl('start');
    return pg;
  }

  url(database: string, port = this.port): string {
    return `postgres://postgres@127.0.0.1:${port}/${database}`;
  }

  /** A fast restart: every connection is cut, and the server is back a moment later. */
  restart(): void {
    this.ctl('restart', ['-m', 'fast']);
  }

  stop(): void {
    try {
      this.ctl('stop', ['-m', 'immediate']);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private ctl(action: string, extra: string[] = []): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=400`;
    asPostgres(`${PG_BIN}/pg_ctl`, ['-D', path.join(this.dir, 'data'), '-o', options, '-l', path.join(this.dir, 'log'), '-w', ...extra, action]);
  }
}
