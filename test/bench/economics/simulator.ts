// A trace-driven simulator of one pool on a virtual clock: the real scaling policy
// (`AutoscalePolicy`, the code the daemon runs) asked on every supervision tick, and the pool
// rules the daemon enforces around it, so a month of trace runs in seconds and a seed gives the
// same figures every time:
// - a tick hands the policy the pool's load (queued, leased, ready, coming, recycling) and
//   carries out its plan as `decide` does: creates up to max_size and the global cap, counting
//   every machine not yet gone; drains at most `plan.drain` ready machines idle for at least
//   `plan.drainIdleForMs`, oldest idle first;
// - a created machine boots (a drawn boot time) and is seen ready at its next readiness poll;
// - queued tasks take ready machines oldest-ready first (as the claim statement orders them);
// - after a task, a machine with uses left is stopped and then reimaged (as long as a boot) in
//   reimage pools, and deleted otherwise; a drained machine is deleted;
// - while a machine stops, a tick whose plan keeps fewer machines than the pool holds marks it
//   (oldest first, counting those already marked) to be deleted once stopped, as the autoscaler
//   does with retireRecycling;
// - a machine costs from its create request until its teardown has finished.
import type { PoolRow } from '../../../src/db/schema.js';
import { prng } from '../../../src/providers/prng.js';
import type { AutoscalePolicy, PoolLoad } from '../../../src/scheduler/policies/policy.js';
import { poolRow } from '../../support/fixtures.js';
import type { WorkloadTask } from './trace-file.js';

export interface SimulatedPool {
  maxSize: number;
  minReady: number;
  idleTimeoutS: number;
  maxUses: number | null;
  recycle: 'reimage' | 'delete';
  /** Nominal boot (create → booted) and reimage, seconds; each drawn within ± `jitter` of it. */
  bootS: number;
  reimageS: number;
  stopS: number;
  terminateS: number;
  jitter: number;
}

export interface SimulationOptions {
  tasks: readonly WorkloadTask[];
  pool: SimulatedPool;
  policy: AutoscalePolicy;
  /** Supervision tick and readiness poll, seconds. */
  tickS: number;
  pollS: number;
  seed: number;
  /** Machines the whole fleet may have (the global cap); unlimited when absent. */
  globalCap?: number;
  /** Count machine time only up to this trace second, as a replay measures its window; all of it when absent. */
  countUntilS?: number;
}

export interface SimulationResult {
  machineMinutes: number;
  waitsS: number[];
  machinesCreated: number;
  peakMachines: number;
  /** Trace seconds from 0 until the last task had finished and the pool was back at rest. */
  windowS: number;
}

type MachineState = 'coming' | 'ready' | 'leased' | 'recycling' | 'deleting';

interface Machine {
  state: MachineState;
  bornAt: number;
  /** When it last became ready: the claim and drain order. */
  readyAt: number;
  uses: number;
  /** Stopping after a task: still to be released. */
  stopping: boolean;
  /** Marked while stopping: deleted once stopped instead of reimaged. */
  retire: boolean;
}

type MachineEvent = 'ready' | 'finished' | 'stopped' | 'gone';
type Event = { at: number; seq: number } & ({ kind: 'tick' } | { kind: MachineEvent; machine: Machine });

/** After the last task, the clock keeps ticking this long at most for the pool to come to rest. */
const SETTLE_LIMIT_S = 7 * 86_400;

export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly events = new EventHeap();
  private readonly random: () => number;
  private readonly machines = new Set<Machine>();
  /** Ready machines in the order they became ready: claims and drains both take the oldest. */
  private readonly ready: Machine[] = [];
  private readyHead = 0;
  private readonly count = { leased: 0, coming: 0, recycling: 0, deleting: 0 };
  /** Created machines in creation order; those before `bootingHead` have finished booting. */
  private readonly booting: Machine[] = [];
  private bootingHead = 0;
  private readonly queue: number[] = [];
  private queueHead = 0;
  private readonly waits: number[] = [];
  private readonly row: PoolRow;
  private now = 0;
  private seq = 0;
  private created = 0;
  private peak = 0;
  private machineSeconds = 0;
  private finished = 0;
  /** Machines stopping after a task, oldest first; those before `stoppingHead` have stopped. */
  private readonly stopping: Machine[] = [];
  private stoppingHead = 0;
  /** Of the stopping machines, those marked to be deleted once stopped. */
  private retiring = 0;

  constructor(private readonly options: SimulationOptions) {
    this.random = prng(options.seed);
    this.row = poolRowOf(options.pool);
  }

  run(): SimulationResult {
    const { tasks, tickS } = this.options;
    const lastArrival = tasks.at(-1)?.at ?? 0;
    // Arrivals come from the sorted trace, the rest from the heap; an arrival goes before a heap
    // event of the same moment.
    let next = 0;
    this.schedule(0, { kind: 'tick' });
    for (;;) {
      const top = this.events.peek();
      if (next < tasks.length && (!top || tasks[next]!.at <= top.at)) {
        this.now = tasks[next]!.at;
        this.queue.push(next++);
        this.dispatch();
        continue;
      }
      const event = this.events.pop();
      if (!event) break;
      this.now = event.at;
      if (event.kind !== 'tick') {
        this.handle(event);
        continue;
      }
      if (this.atRest(lastArrival) || this.now > lastArrival + SETTLE_LIMIT_S) break;
      this.tick();
      this.schedule(this.now + tickS, { kind: 'tick' });
    }
    for (const m of this.machines) this.machineSeconds += this.held(m);
    return { machineMinutes: this.machineSeconds / 60, waitsS: this.waits, machinesCreated: this.created, peakMachines: this.peak, windowS: this.now };
  }

  private atRest(lastArrival: number): boolean {
    if (this.now < lastArrival || this.finished < this.options.tasks.length) return false;
    return this.readyCount() === this.machines.size && this.machines.size <= this.row.minReady;
  }

  private readyCount(): number {
    return this.ready.length - this.readyHead;
  }

  private move(machine: Machine, to: MachineState): void {
    const from = machine.state;
    if (from !== 'ready') this.count[from]--;
    if (to !== 'ready') this.count[to]++;
    else this.ready.push(machine);
    machine.state = to;
  }

  /** Takes the oldest ready machine off the ready list. */
  private takeReady(): Machine {
    const machine = this.ready[this.readyHead++]!;
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
    return machine;
  }

  private handle(event: Event): void {
    switch (event.kind) {
      case 'ready':
        event.machine.readyAt = this.now;
        this.move(event.machine, 'ready');
        this.dispatch();
        return;
      case 'finished':
        this.finished++;
        this.recycle(event.machine);
        return;
      case 'stopped':
        this.released(event.machine);
        return;
      case 'gone':
        this.machineSeconds += this.held(event.machine);
        this.count.deleting--;
        this.machines.delete(event.machine);
        return;
      case 'tick':
        return;
    }
  }

  /** How long the machine has been held until now, within the counted window. */
  private held(machine: Machine): number {
    return Math.max(0, Math.min(this.now, this.options.countUntilS ?? Number.POSITIVE_INFINITY) - machine.bornAt);
  }

  /** Queued tasks take ready machines, oldest ready first. */
  private dispatch(): void {
    while (this.queueHead < this.queue.length && this.readyCount() > 0) {
      const machine = this.takeReady();
      const task = this.options.tasks[this.queue[this.queueHead++]!]!;
      this.waits.push(this.now - task.at);
      this.move(machine, 'leased');
      machine.uses++;
      this.schedule(this.now + task.runS, { kind: 'finished', machine });
    }
  }

  private recycle(machine: Machine): void {
    const { pool } = this.options;
    const usesLeft = pool.maxUses === null || machine.uses < pool.maxUses;
    if (pool.recycle === 'reimage' && usesLeft && this.row.active) {
      this.move(machine, 'recycling');
      machine.stopping = true;
      this.stopping.push(machine);
      this.schedule(this.now + pool.stopS, { kind: 'stopped', machine });
    } else this.teardown(machine);
  }

  /** Stopped after its task: deleted if a tick marked it meanwhile, reimaged otherwise. */
  private released(machine: Machine): void {
    machine.stopping = false;
    if (machine.retire) {
      machine.retire = false;
      this.retiring--;
      this.teardown(machine);
    } else this.schedule(this.seenAt(this.now + this.draw(this.options.pool.reimageS)), { kind: 'ready', machine });
  }

  /** Marks stopping machines, oldest first, until `count` of them are marked. */
  private retireStopping(count: number): void {
    while (this.stoppingHead < this.stopping.length && !this.stopping[this.stoppingHead]!.stopping) this.stoppingHead++;
    if (this.stoppingHead > 1024 && this.stoppingHead * 2 > this.stopping.length) {
      this.stopping.splice(0, this.stoppingHead);
      this.stoppingHead = 0;
    }
    for (let i = this.stoppingHead; i < this.stopping.length && this.retiring < count; i++) {
      const machine = this.stopping[i]!;
      if (!machine.stopping || machine.retire) continue;
      machine.retire = true;
      this.retiring++;
    }
  }

  private teardown(machine: Machine): void {
    this.move(machine, 'deleting');
    this.schedule(this.now + this.options.pool.terminateS, { kind: 'gone', machine });
  }

  private tick(): void {
    const load = this.load();
    const plan = this.options.policy.plan(this.row, load, new Date(this.now * 1000));
    if (plan.keep !== undefined) this.retireStopping(Math.min(load.recycling, load.leased + load.ready + load.coming - Math.floor(plan.keep)));
    const room = Math.min(this.row.maxSize, this.options.globalCap ?? Number.POSITIVE_INFINITY) - this.machines.size;
    const create = Math.max(0, Math.min(Math.floor(plan.create), room));
    for (let k = 0; k < create; k++) this.create();
    const idleSince = this.now - Math.max(0, plan.drainIdleForMs) / 1000;
    for (let spare = Math.min(load.ready, Math.floor(plan.drain)); spare > 0 && this.ready[this.readyHead]!.readyAt <= idleSince; spare--) this.teardown(this.takeReady());
  }

  private load(): PoolLoad {
    const { leased, coming, recycling } = this.count;
    // A machine on its way back from a task is both coming and recycling, as poolLoad counts it.
    return { queued: this.queue.length - this.queueHead, leased, ready: this.readyCount(), coming: coming + recycling, recycling, retiring: this.retiring, bootingForS: this.oldestBootingAge() };
  }

  /** How long the oldest machine still booting has been at it, as poolLoad reads it from the rows. */
  private oldestBootingAge(): number | null {
    while (this.bootingHead < this.booting.length && this.booting[this.bootingHead]!.state !== 'coming') this.bootingHead++;
    if (this.bootingHead > 1024 && this.bootingHead * 2 > this.booting.length) {
      this.booting.splice(0, this.bootingHead);
      this.bootingHead = 0;
    }
    const oldest = this.booting[this.bootingHead];
    return oldest ? this.now - oldest.bornAt : null;
  }

  private create(): void {
    const machine: Machine = { state: 'coming', bornAt: this.now, readyAt: 0, uses: 0, stopping: false, retire: false };
    this.count.coming++;
    this.booting.push(machine);
    this.machines.add(machine);
    this.created++;
    this.peak = Math.max(this.peak, this.machines.size);
    this.schedule(this.seenAt(this.now + this.draw(this.options.pool.bootS)), { kind: 'ready', machine });
  }

  /** A boot or reimage that ends at `doneAt` is seen at the first readiness poll after it. */
  private seenAt(doneAt: number): number {
    const { pollS } = this.options;
    return pollS > 0 ? this.now + Math.ceil((doneAt - this.now) / pollS) * pollS : doneAt;
  }

  private draw(nominalS: number): number {
    return nominalS * (1 - this.options.pool.jitter + 2 * this.options.pool.jitter * this.random());
  }

  private schedule(at: number, event: { kind: 'tick' } | { kind: MachineEvent; machine: Machine }): void {
    this.events.push(Object.assign(event, { at, seq: this.seq++ }));
  }
}

function poolRowOf(pool: SimulatedPool): PoolRow {
  const { maxSize, minReady, maxUses, idleTimeoutS, recycle } = pool;
  return poolRow({ name: 'simulated', maxSize, minReady, maxUses, idleTimeoutS, recycle });
}

/** A binary min-heap of events by time, then by the order they were scheduled in. */
class EventHeap {
  private readonly items: Event[] = [];

  push(event: Event): void {
    const items = this.items;
    items.push(event);
    for (let k = items.length - 1; k > 0; ) {
      const parent = (k - 1) >> 1;
      if (!before(items[k]!, items[parent]!)) break;
      [items[k], items[parent]] = [items[parent]!, items[k]!];
      k = parent;
    }
  }

  peek(): Event | undefined {
    return this.items[0];
  }

  pop(): Event | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    for (let k = 0; ; ) {
      const l = 2 * k + 1;
      const r = l + 1;
      let least = k;
      if (l < items.length && before(items[l]!, items[least]!)) least = l;
      if (r < items.length && before(items[r]!, items[least]!)) least = r;
      if (least === k) break;
      [items[k], items[least]] = [items[least]!, items[k]!];
      k = least;
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
