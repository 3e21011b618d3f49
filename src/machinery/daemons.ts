// Daemon rows: registered at start, seen on a heartbeat, marked at a clean stop; and which cluster
// the database's daemons serve, for tools run without the daemon's config.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { daemons } from '../db/schema.js';

export interface DaemonIdentity {
  id: string;
  cluster: string;
  host: string;
  pid: number;
}

export async function registerDaemon(ex: Executor, daemon: DaemonIdentity): Promise<void> {
  await ex.execute(sql`INSERT INTO ${daemons} (id, cluster, host, pid) VALUES (${daemon.id}, ${daemon.cluster}, ${daemon.host}, ${daemon.pid})`);
}

export async function markDaemonSeen(ex: Executor, id: string): Promise<void> {
  await ex.execute(sql`UPDATE ${daemons} SET seen_at = now() WHERE id = ${id}`);
}

export async function markDaemonStopped(ex: Executor, id: string): Promise<void> {
  await ex.execute(sql`UPDATE ${daemons} SET stopped_at = now(), seen_at = now() WHERE id = ${id}`);
}

/** The cluster of the daemon seen most recently, or null when no daemon ever served this database. */
export async function latestCluster(ex: Executor): Promise<string | null> {
  const result = await ex.execute(sql`SELECT cluster FROM ${daemons} ORDER BY seen_at DESC, started_at DESC LIMIT 1`);
  const cluster = result.rows[0]?.cluster;
  return typeof cluster === 'string' ? cluster : null;
}
