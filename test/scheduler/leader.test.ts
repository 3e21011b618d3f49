// A leader whose lock connection goes silent (packets dropped, nothing closed: a half-open
// connection) stops leading within the lease's bound, the server frees its locks once the
// session has stopped hearing from it, another daemon takes the pool over, and the silent one
// does not lead again while it is cut off, nor steal the lease back once the network heals.
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { LeaderLeases } from '../../src/scheduler/leader.js';
import { FaultyProxy } from '../chaos/proxy.js';
import { useTestDatabase } from '../support/database.js';
import { until } from '../support/until.js';

const t = useTestDatabase('leader', 4);
const EXPIRE_MS = 2000;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The test database through a proxy that can partition it. */
async function throughProxy(): Promise<{ proxy: FaultyProxy; database: Database }> {
  const direct = new URL(t.url);
  const proxy = new FaultyProxy({ host: direct.hostname || '127.0.0.1', port: Number(direct.port || 5432) });
  const port = await proxy.start();
  cleanups.push(() => proxy.close());
  const url = new URL(t.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const database = openDatabase({ url: url.toString(), max: 2, connectTimeoutMs: 1000, applicationName: 'sandfleet-test-leader-proxied' });
  cleanups.push(() => database.close());
  return { proxy, database };
}

describe('leader lease over a connection that goes silent', () => {
  it('expires within its bound, moves to another daemon, and does not come back while partitioned', async () => {
    const { proxy, database } = await throughProxy();
    const a = new LeaderLeases(database, 'lease-expiry', { expireAfterMs: EXPIRE_MS });
    const b = new LeaderLeases(t, 'lease-expiry', { expireAfterMs: EXPIRE_MS });
    cleanups.push(() => a.close(), () => b.close());

    expect(await a.tryLead('p')).toBe(true);
    expect(await b.tryLead('p')).toBe(false);
    // While the connection is fine the lease outlasts its bound: heartbeats keep confirming it.
    const took = Date.now();
    await until(async () => {
      expect(await a.tryLead('p')).toBe(true);
      return Date.now() - took > 1.5 * EXPIRE_MS;
    }, 10_000);

    proxy.mode = { kind: 'partition' };
    const cut = Date.now();
    // Nothing closes: without expiry, `a` would believe it leads for ever.
    await until(() => Promise.resolve(!a.leads('p')), EXPIRE_MS + 1000);
    const lost = Date.now();
    // Within the bound (plus the polling's own latency).
    expect(lost - cut).toBeLessThanOrEqual(EXPIRE_MS + 250);

    // The server notices on its own: the lock session set idle_session_timeout (twice the bound),
    // so it ends the session that stopped hearing from `a` and frees the lock; no
    // pg_terminate_backend is needed to emulate it.
    await until(() => b.tryLead('p'), 2 * EXPIRE_MS + 5000);
    // Never two leaders at once: `a` stops believing at the latest EXPIRE_MS after the cut (its
    // last answer came before it); the server frees the lock only after twice that of silence.
    expect(Date.now() - cut).toBeGreaterThanOrEqual(EXPIRE_MS);

    // Still cut off, `a` cannot reach the server: it does not lead, whatever it tries.
    for (let i = 0; i < 3; i++) {
      expect(await a.tryLead('p').catch(() => false)).toBe(false);
      expect(a.leads('p')).toBe(false);
    }
    expect(b.leads('p')).toBe(true);

    // Healed, `a` reaches the server again and finds the lease taken.
    proxy.mode = { kind: 'pass' };
    await until(async () => (await a.tryLead('q').catch(() => false)) === true, 10_000);
    expect(await a.tryLead('p')).toBe(false);
    expect(b.leads('p')).toBe(true);
  });
});
