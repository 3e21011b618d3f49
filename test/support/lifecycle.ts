// A lifecycle context over a test database, as the scheduler builds one: its own cluster (so its
// sim instances are apart), no runs to start, a fast provider poll.
import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/database.js';
import { databaseNow } from '../../src/machinery/index.js';
import { DatabaseClock } from '../../src/scheduler/database-clock.js';
import type { LifecycleContext } from '../../src/scheduler/lifecycle/context.js';
import { PoolCache } from '../../src/scheduler/pool-cache.js';
import { ProviderRegistry } from '../../src/scheduler/providers.js';

export function testLifecycleContext(db: Db): LifecycleContext {
  return {
    db,
    pools: new PoolCache(db),
    providers: new ProviderRegistry({ db, cluster: `c-${randomUUID().slice(0, 6)}` }),
    actor: 'test',
    clock: new DatabaseClock(() => databaseNow(db)),
    startRuns: () => Promise.resolve(),
    pollIntervalMs: 5,
  };
}
