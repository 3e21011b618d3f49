// Daemon rows: registered at start, seen on a heartbeat, marked at a clean stop; which cluster the
// database's daemons serve, for tools run without the daemon's config; and which are alive and
// which pools each leads, for people asking why nothing moves.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { daemons, pools } from '../db/schema.js';
import { afterKey, exactTime, timeKeyOf, type Keyed, type TimeKey } from './keyset.js';

export interface DaemonIdentity {
  id: string;
  cluster: string;
  host: string;
  pid: number;
}

/** How often a running daemon writes its row's `seen_at`. */
export const DAEMON_HEARTBEAT_MS = 30_000;
/** A daemon not heard from for this long (three heartbeats missed) counts as gone. */
export const DAEMON_ALIVE_WITHIN_MS = 3 * DAEMON_HEARTBEAT_MS;

/**
 * The name a daemon's database sessions carry (`application_name`): it ties the pool leases a
 * session holds (advisory locks in pg_locks) to the daemon's row. At most 63 characters.
 */
export const daemonSessionName = (id: string) => `${DAEMON_SESSION_PREFIX}${id}`;
const DAEMON_SESSION_PREFIX = 'sandfleet-daemon-';

/** The advisory lock (by name; hashtextextended of it is the key) whose holder leads `pool` of `cluster`. */
export const leaderLockName = (cluster: string, pool: string) => `${LEADER_LOCK_PREFIX}${cluster}:${pool}`;
const LEADER_LOCK_PREFIX = 'sandfleet:';

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

const mapDaemon = rowMapper(daemons);

/** Alive: not stopped, and heard from within DAEMON_ALIVE_WITHIN_MS by the database's clock. */
const ALIVE = sql`(${daemons.stoppedAt} IS NULL AND ${daemons.seenAt} > now() - ${DAEMON_ALIVE_WITHIN_MS} * interval '1 millisecond')`;

/** SQL: whether any daemon is alive. */
export const anyDaemonAlive = sql`EXISTS (SELECT 1 FROM ${daemons} WHERE ${ALIVE})`;

/** How many daemons are alive now. */
export async function liveDaemonCount(ex: Executor): Promise<number> {
  const result = await ex.execute(sql`SELECT count(*)::int AS n FROM ${daemons} WHERE ${ALIVE}`);
  return Number(result.rows[0]?.n ?? 0);
}

export interface DaemonStatus extends DaemonIdentity {
  startedAt: Date;
  seenAt: Date;
  stoppedAt: Date | null;
  alive: boolean;
  /** The pools whose leader lease one of its sessions holds now, by name. */
  leads: string[];
}

/**
 * A page of daemons, the most recently started first, each with whether it is alive and the
 * pools it leads: a pool's lease is a session advisory lock (src/scheduler/leader.ts), and a
 * bigint lock key shows in pg_locks as its high half in `classid` and low half in `objid`.
 */
export async function listDaemonPage(ex: Executor, page: { limit: number; before?: TimeKey | undefined }): Promise<Keyed<DaemonStatus>[]> {
  const result = await ex.execute(sql`
    WITH held AS (
      SELECT a.application_name, l.classid::bigint AS high, l.objid::bigint AS low
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT daemons.*, ${exactTime(sql`daemons.started_at`)} AS page_at, ${ALIVE} AS alive,
      ARRAY(
        SELECT p.name FROM ${pools} p
        CROSS JOIN LATERAL (SELECT hashtextextended(${LEADER_LOCK_PREFIX} || daemons.cluster || ':' || p.name, 0) AS k) key
        WHERE EXISTS (SELECT 1 FROM held h WHERE h.application_name = ${DAEMON_SESSION_PREFIX} || daemons.id
          AND h.high = (key.k >> 32) & 4294967295 AND h.low = key.k & 4294967295)
        ORDER BY p.name) AS leads
    FROM ${daemons}
    WHERE ${afterKey(sql`daemons.started_at`, sql`daemons.id`, page.before, 'desc')}
    ORDER BY daemons.started_at DESC, daemons.id DESC LIMIT ${page.limit}`);
  return result.rows.map((r) => ({ row: { ...mapDaemon(r), alive: r.alive === true, leads: (r.leads as string[] | null) ?? [] }, key: timeKeyOf(r) }));
}
