// What only the sim provider does: spontaneous instance death, and terminated instances
// leaving view after terminatedVisibleS, shared by every provider object on the database.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isProviderError } from '../../src/providers/errors.js';
import { SimProvider } from '../../src/providers/sim/sim-provider.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('sim_adapter', 4);

const sim = (pool: string, settings: Record<string, unknown>) => new SimProvider({ cluster: 'c', pool, db: t.db, settings });

async function poll<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await read();
    if (done(v)) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition never held');
}

describe('sim provider', () => {
  it('lets instances die on their own when the pool asks for it, as seen by another daemon too', async () => {
    const dying = sim('dying', { bootDelayMs: 0, faults: { deathRate: 1, deathWithinS: 1 } });
    const created = await dying.create({ machineId: randomUUID(), name: 'x' });
    const other = sim('dying', {});
    const dead = await poll(() => other.get(created.providerId), (i) => i.state === 'terminated');
    expect(dead.providerId).toBe(created.providerId);
  });

  it('keeps a terminated instance visible for terminatedVisibleS, then it is gone', async () => {
    const p = sim('purged', { bootDelayMs: 0, terminateDelayMs: 0, terminatedVisibleS: 0 });
    const created = await p.create({ machineId: randomUUID(), name: 'x' });
    await p.get(created.providerId);
    await p.delete(created.providerId);
    const error = await poll(
      () => p.get(created.providerId).then(() => null, (e: unknown) => e),
      (e) => e !== null,
    );
    expect(isProviderError(error, 'not_found')).toBe(true);
  });
});
