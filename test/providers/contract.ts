// The provider contract: one set of assertions every adapter must pass, run by one test file
// per provider (so they run in parallel): sim on real Postgres, aws through the real
// @aws-sdk/client-ec2 against the EC2 emulator, azure through @azure/arm-compute against the
// HTTPS ARM emulator.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProviderError, type ProviderError } from '../../src/providers/errors.js';
import type { CreateRequest, Instance, Provider } from '../../src/providers/types.js';
import { TARGET_SUPPORTS, type Target, type TargetName } from './targets.js';

async function errorOf(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    if (isProviderError(error)) return error;
    throw new Error(`expected a ProviderError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the call to fail');
}

/** Polls the provider (the way a reconciler would) until the instance is in one of `states`. */
async function until(provider: Provider, id: string, states: string[]): Promise<Instance> {
  for (let i = 0; i < 200; i++) {
    const instance = await provider.get(id);
    if (states.includes(instance.state)) return instance;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`instance ${id} never reached ${states.join('|')}`);
}

/** Deleted means terminated while still visible (EC2, sim) or not found at all (Azure). */
async function untilGone(provider: Provider, id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await provider.get(id)).state === 'terminated') return;
    } catch (error) {
      if (isProviderError(error, 'not_found')) return;
      throw error;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`instance ${id} was never gone`);
}

/** What a caller does with retryable errors: wait as told, try again. */
/** Calls until an answer or a non-retryable error, for up to `withinMs` (a loaded machine stretches the emulators' windows; a count of attempts gave up too soon). */
async function retrying<T>(call: () => Promise<T>, withinMs = 15_000): Promise<T> {
  const giveUpAt = Date.now() + withinMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isProviderError(error) || !error.retryable || Date.now() >= giveUpAt) throw error;
      await new Promise((r) => setTimeout(r, Math.min(error.details.retryAfterMs ?? 10, 50)));
    }
  }
}

const request = () => {
  const machineId = randomUUID();
  return { machineId, name: `sf-contract-${machineId.slice(0, 8)}` };
};

export function providerContract(name: TargetName, makeTarget: () => Promise<Target>, more?: (target: () => Target) => void): void {
  const supports = TARGET_SUPPORTS[name];
  describe(`provider contract: ${name}`, () => {
  let target: Target;
  beforeAll(async () => {
    target = await makeTarget();
  });
  afterAll(async () => {
    await target?.close();
  });

  it('creates idempotently on the machine id, also from a fresh process after a crash', async () => {
    target.setFaults({});
    const req = request();
    // The first create "crashes" before its row remembers the instance.
    const first = await target.provider({ recordCreates: false }).create(req);
    expect(first.providerId).toBeTruthy();
    expect(first.machineId).toBe(req.machineId);
    expect(['pending', 'running']).toContain(first.state);
    const before = await target.liveCount();
    const again = await target.provider().create(req);
    const third = await target.provider().create(req);
    expect(again.providerId).toBe(first.providerId);
    expect(third.providerId).toBe(first.providerId);
    expect(await target.liveCount()).toBe(before);
    await target.provider().delete(first.providerId);
    expect(await target.liveCount()).toBe(before - 1);
  });

  it('gets, lists, stops and deletes until the instance is gone', async () => {
    target.setFaults({});
    const provider = target.provider();
    const req = request();
    const created = await provider.create(req);
    const running = await until(provider, created.providerId, ['running']);
    expect(running.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const listed = await provider.list();
    expect(listed.find((i) => i.providerId === created.providerId)?.machineId).toBe(req.machineId);
    await provider.stop(created.providerId);
    await until(provider, created.providerId, ['stopped']);
    await provider.delete(created.providerId);
    await untilGone(provider, created.providerId);
    // Deleting what is already gone is done, not an error.
    await provider.delete(created.providerId);
    await provider.delete(target.unknownId);
    expect(await target.liveCount()).toBe(0);
  });

  it('answers not_found for an instance that never existed', async () => {
    target.setFaults({});
    expect((await errorOf(target.provider().get(target.unknownId))).kind).toBe('not_found');
    expect((await errorOf(target.provider().stop(target.unknownId))).kind).toBe('not_found');
  });

  it('classifies throttling, server errors and capacity errors', async () => {
    const provider = target.provider({ maxAttempts: 1 });
    target.setFaults({ throttleRate: 1 });
    const throttled = await errorOf(target.provider({ maxAttempts: 1 }).create(request()));
    expect(throttled.kind).toBe('throttled');
    expect(throttled.details.retryAfterMs).toBeGreaterThan(0);
    target.setFaults({ serverErrorRate: 1 });
    expect((await errorOf(target.provider({ maxAttempts: 1 }).list())).kind).toBe('transient');
    target.setFaults({ capacityRate: 1 });
    expect((await errorOf(target.provider({ maxAttempts: 1 }).create(request()))).kind).toBe('capacity');
    target.setFaults({});
    expect(await provider.list()).toBeInstanceOf(Array);
  });

  it('says what it supports as the suite expects', () => {
    expect(target.provider().capabilities.reimage).toBe(supports.reimage);
  });

  it.skipIf(!supports.auth)('classifies authentication failures as fatal', async () => {
    target.setFaults({ authFailure: true });
    const error = await errorOf(target.provider({ maxAttempts: 1 }).list());
    target.setFaults({});
    expect(error.kind).toBe('fatal');
    expect(error.retryable).toBe(false);
  });

  it.skipIf(!supports.consistencyWindow)('does not take a fresh instance that is not visible yet for gone', async () => {
    // Long enough that three lookups (each waiting out a batch window) fit in it on a busy machine.
    target.setFaults({ consistencyWindowMs: 1500 });
    const provider = target.provider();
    const created = await provider.create(request());
    // Inside the window: not found by the cloud, but transient to us.
    expect((await errorOf(provider.get(created.providerId))).kind).toBe('transient');
    // Another process that knows the row's age draws the same conclusion.
    const other = target.provider();
    expect((await errorOf(other.get(created.providerId, { createdAt: new Date() }))).kind).toBe('transient');
    // Without that knowledge and past the grace window, NotFound would mean gone.
    const impatient = target.provider({ notFoundGraceS: 0 });
    expect((await errorOf(impatient.get(created.providerId))).kind).toBe('not_found');
    const found = await retrying(() => provider.get(created.providerId));
    expect(found.providerId).toBe(created.providerId);
    target.setFaults({});
    await provider.delete(created.providerId);
  });

  it('takes an instance it has seen and then deleted for gone at once', async () => {
    target.setFaults({});
    const provider = target.provider();
    const created = await provider.create(request());
    await provider.get(created.providerId);
    await provider.delete(created.providerId);
    await untilGone(provider, created.providerId);
    // A repeated delete (a retry after a lost response) is done, not "not visible yet".
    await provider.delete(created.providerId, { createdAt: new Date() });
  });

  it('with 20% throttling and 10% server errors, 100 creates and 100 deletes leave nothing and never a false NotFound', async () => {
    target.setFaults({ throttleRate: 0.2, serverErrorRate: 0.1 });
    const provider = target.provider();
    const requests = Array.from({ length: 100 }, request);
    const created: Instance[] = [];
    for (let i = 0; i < requests.length; i += 10) {
      created.push(...(await Promise.all(requests.slice(i, i + 10).map((r) => retrying(() => provider.create(r))))));
    }
    expect(new Set(created.map((c) => c.providerId)).size).toBe(100);
    // Lost responses were retried into the instance the first attempt made, never a second one.
    expect(await target.liveCount()).toBe(100);
    let falseNotFound = 0;
    await Promise.all(
      created.map(async (c) => {
        try {
          await retrying(() => provider.get(c.providerId));
        } catch (error) {
          if (isProviderError(error, 'not_found')) falseNotFound++;
          else throw error;
        }
      }),
    );
    expect(falseNotFound).toBe(0);
    for (let i = 0; i < created.length; i += 10) {
      await Promise.all(created.slice(i, i + 10).map((c) => retrying(() => provider.delete(c.providerId))));
    }
    target.setFaults({});
    expect(await target.liveCount()).toBe(0);
  });

  it.skipIf(!supports.reimage)('reimages an instance back to running', async () => {
    target.setFaults({});
    const provider = target.provider();
    if (!provider.reimage) throw new Error(`${name} says it reimages but has no reimage()`);
    const created = await provider.create(request());
    await until(provider, created.providerId, ['running']);
    await provider.reimage(created.providerId);
    const after = await until(provider, created.providerId, ['running']);
    expect(after.providerId).toBe(created.providerId);
    await provider.delete(created.providerId);
    await untilGone(provider, created.providerId);
  });

  it('creates a launch with one request, each member its own instance, also for members that ask again after a crash', async () => {
    target.setFaults({});
    const before = await target.liveCount();
    const sent = target.createRequests();
    const members = launchOf(5);
    // Three members ask; the process "crashes" before any row remembers its instance.
    const crashed = target.provider({ recordCreates: false });
    const early = await Promise.all(members.slice(0, 3).map((m) => crashed.create(m)));
    // A fresh process: every member asks, the three again.
    const fresh = target.provider();
    const all = await Promise.all(members.map((m) => retrying(() => fresh.create(m))));
    // Where each instance boots with its own machine's data, a member gets back exactly its own;
    // a uniform scale set's instances are interchangeable, but none is left behind.
    if (fresh.capabilities.perInstanceUserData) expect(all.slice(0, 3).map((i) => i.providerId)).toEqual(early.map((i) => i.providerId));
    else expect(all.map((i) => i.providerId)).toEqual(expect.arrayContaining(early.map((i) => i.providerId)));
    expect(new Set(all.map((i) => i.providerId)).size).toBe(5);
    expect(all.map((i) => i.machineId)).toEqual(members.map((m) => m.machineId));
    expect(await target.liveCount()).toBe(before + 5);
    // One request launched the five; the fresh process asked at most once more.
    expect(target.createRequests() - sent).toBeLessThanOrEqual(2);
    await Promise.all(all.map((i) => fresh.delete(i.providerId)));
  });

  it('launches nothing twice when a launch request acted and its response was lost', async () => {
    target.setFaults({});
    const before = await target.liveCount();
    const members = launchOf(3);
    const sent = target.createRequests();
    target.loseCreateResponses();
    expect((await errorOf(target.provider({ maxAttempts: 1 }).create(members[0]!))).retryable).toBe(true);
    expect(target.createRequests() - sent).toBe(1);
    const provider = target.provider();
    const all = await Promise.all(members.map((m) => retrying(() => provider.create(m))));
    expect(new Set(all.map((i) => i.providerId)).size).toBe(3);
    // What the lost request created was taken, not made again: one more request at most (a
    // launch repeated; a scale set grown by the two still missing).
    expect(await target.liveCount()).toBe(before + 3);
    expect(target.createRequests() - sent).toBeLessThanOrEqual(2);
    await Promise.all(all.map((i) => provider.delete(i.providerId)));
  });

  it('answers capacity for the members of a launch the cloud filled only in part, and the same after a crash', async () => {
    target.setFaults({});
    const before = await target.liveCount();
    target.setFaults({ maxInstances: before + 2 });
    const members = launchOf(4);
    const outcomes = async (provider: Provider) =>
      Promise.all(members.map((m) => retrying(() => provider.create(m)).then((i) => i.providerId, (e: unknown) => (isProviderError(e) ? e.kind : String(e)))));
    const first = await outcomes(target.provider());
    expect(first.filter((o) => o === 'capacity')).toHaveLength(2);
    expect(new Set(first.filter((o) => o !== 'capacity')).size).toBe(2);
    expect(await target.liveCount()).toBe(before + 2);
    // Asked again from a fresh process once capacity is back: a member that got an instance gets
    // the same one; a launch stays what it was (EC2, sim), a scale set may grow for the rest.
    target.setFaults({});
    const again = await outcomes(target.provider());
    first.forEach((o, i) => o !== 'capacity' && expect(again[i]).toBe(o));
    const held = new Set(again.filter((o) => o !== 'capacity'));
    expect(await target.liveCount()).toBe(before + held.size);
    const provider = target.provider();
    await Promise.all([...held].map((id) => provider.delete(id)));
  });

  more?.(() => target);
  });
}

/** The members of one launch, as a reservation writes them. */
function launchOf(size: number): CreateRequest[] {
  const id = randomUUID();
  return Array.from({ length: size }, (_, index) => ({ ...request(), launch: { id, index, size } }));
}
