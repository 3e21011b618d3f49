// The azure adapter: one pool = one uniform VM scale set in a resource group, driven through
// @azure/arm-compute. Creates of a batch window share one grow (hand-out.ts); status reads of a
// window share one VM listing with instance views (and a NIC listing when a new VM needs its
// address), whatever the pool's size; stops, reimages and deletes each go to Azure as one scale
// set operation for every instance asked for meanwhile (powerOff, reimage, deleteInstances with a
// list of instance ids).
import type { VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { BATCH_WINDOW_MS, Batcher, type BatchResult } from '../batcher.js';
import { invalidSettings } from '../settings-error.js';
import type { AdoptionLedger, CreateRequest, Instance, LookupOptions, Provider } from '../types.js';
import { LaunchLedger } from '../visibility.js';
import { armClients, type ArmAccess } from './arm-clients.js';
import { classifyAzureError } from './errors.js';
import { InstanceHandOut } from './hand-out.js';
import { instanceIdOf, toInstance } from './instances.js';
import { ScaleSet } from './scale-set.js';
import { azureSettingsSchema, type AzureSettings } from './settings.js';

export interface VmssProviderOptions extends ArmAccess {
  cluster: string;
  pool: string;
  settings: unknown;
  /** Which instances rows already hold: the database, in the daemon. */
  adoption: AdoptionLedger;
}

const NOT_FOUND_CODE = 'NotFound';
/**
 * Each kind of scale set operation (grow, power off, reimage, delete) runs one at a time (Azure
 * refuses more than a few at once on a scale set, and each waits for its long-running
 * operation): what arrives meanwhile goes together next, so a stop waits for at most the one
 * operation in flight before its own, whatever the number of machines stopping.
 */
const BATCH = { maxBatch: 100, windowMs: BATCH_WINDOW_MS, serial: true };
/** A grow can be of any size: every machine waiting for one shares it. */
const GROW_BATCH = { ...BATCH, maxBatch: 1000 };
/** A status read of the whole scale set answers every get of its window. */
const READ_BATCH = { maxBatch: 1000, windowMs: BATCH_WINDOW_MS };

const STOP = 'virtualMachineScaleSets.powerOff';
const REIMAGE = 'virtualMachineScaleSets.reimage';
const DELETE = 'virtualMachineScaleSets.deleteInstances';

/** How an instance's part of a scale set operation ended: acted on, or not in the scale set. */
type Outcome = 'done' | 'missing';

/** A VM as one status read saw it, with its address (the instance view has none). */
interface Seen {
  vm: VirtualMachineScaleSetVM;
  ip: string | null;
}

export class VmssProvider implements Provider {
  readonly kind = 'azure';
  // Uniform scale set instances share the model's custom data: none of their own.
  readonly capabilities = { reimage: true, stopWithoutDelete: true, spot: true, perInstanceUserData: false };
  private readonly settings: AzureSettings;
  private readonly scaleSet: ScaleSet;
  private readonly ledger: LaunchLedger;
  /** Private IPs by VM resource id (lower case), from the last NIC listing. */
  private ips = new Map<string, string>();
  private readonly handOut: InstanceHandOut;
  private readonly creator: Batcher<string, Instance>;
  private readonly reader = new Batcher<string, Seen | null>((ids) => this.readBatch(ids), READ_BATCH);
  private readonly stopper = new Batcher<string, Outcome>((ids) => this.settleEach(ids, STOP, (batch) => this.scaleSet.powerOff(batch)), BATCH);
  private readonly reimager = new Batcher<string, Outcome>((ids) => this.settleEach(ids, REIMAGE, (batch) => this.scaleSet.reimage(batch)), BATCH);
  private readonly deleter = new Batcher<string, Outcome>((ids) => this.settleEach(ids, DELETE, (batch) => this.scaleSet.deleteInstances(batch)), BATCH);

  constructor(private readonly options: VmssProviderOptions) {
    const parsed = azureSettingsSchema.safeParse(options.settings);
    if (!parsed.success) throw invalidSettings(options.pool, parsed.error.issues);
    this.settings = parsed.data;
    const name = this.settings.scaleSetName ?? `sf-${options.cluster}-${options.pool}`.slice(0, 63);
    this.scaleSet = new ScaleSet(name, this.settings, { cluster: options.cluster, pool: options.pool }, armClients(this.settings, options));
    this.ledger = new LaunchLedger(this.settings.notFoundGraceS * 1000);
    this.handOut = new InstanceHandOut(this.scaleSet, options.adoption, this.ledger);
    this.creator = new Batcher((ids) => this.handOut.handOut(ids), GROW_BATCH);
  }

  create(request: CreateRequest): Promise<Instance> {
    return this.creator.call(request.machineId);
  }

  async get(providerId: string, options: LookupOptions = {}): Promise<Instance> {
    const seen = await this.reader.call(instanceIdOf(providerId, this.scaleSet.name));
    if (!seen) throw this.ledger.missing(providerId, options, 'virtualMachineScaleSetVMs.list', NOT_FOUND_CODE);
    this.ledger.recordSeen(providerId);
    return toInstance(seen.vm, seen.ip, this.handOut.holderOf(providerId));
  }

  async list(): Promise<Instance[]> {
    return (await this.snapshot()).map(({ vm, ip }) => toInstance(vm, ip, this.handOut.holderOf(vm.id ?? '')));
  }

  async stop(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.stopper.call(instanceIdOf(providerId, this.scaleSet.name))) === 'missing') throw this.ledger.missing(providerId, options, STOP, NOT_FOUND_CODE);
  }

  async delete(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.deleter.call(instanceIdOf(providerId, this.scaleSet.name))) === 'done') {
      this.ledger.recordDeleted(providerId);
      this.handOut.forget(providerId);
      return;
    }
    const gone = this.ledger.missing(providerId, options, DELETE, NOT_FOUND_CODE);
    if (gone.kind !== 'not_found') throw gone;
  }

  async reimage(providerId: string): Promise<void> {
    if ((await this.reimager.call(instanceIdOf(providerId, this.scaleSet.name))) === 'missing') throw this.ledger.missing(providerId, {}, REIMAGE, NOT_FOUND_CODE);
  }

  /** Every get of the window from one snapshot of the scale set. */
  private async readBatch(instanceIds: string[]): Promise<Map<string, BatchResult<Seen | null>>> {
    try {
      const seen = new Map((await this.snapshot()).map((s) => [s.vm.instanceId ?? '', s]));
      return new Map(instanceIds.map((id) => [id, { ok: true, value: seen.get(id) ?? null }]));
    } catch (error) {
      return new Map(instanceIds.map((id) => [id, { ok: false, error }]));
    }
  }

  /**
   * The scale set's VMs with their addresses: one VM listing, and a NIC listing only when a VM
   * shows up whose address we do not hold (a scale set VM keeps its NIC and private address for
   * life). No scale set yet means no instances yet.
   */
  private async snapshot(): Promise<Seen[]> {
    try {
      const vms = await this.scaleSet.vms();
      const ids = new Set(vms.map((vm) => vm.id!.toLowerCase()));
      if ([...ids].some((id) => !this.ips.has(id))) this.ips = await this.scaleSet.privateIps();
      else for (const id of this.ips.keys()) if (!ids.has(id)) this.ips.delete(id);
      return vms.map((vm) => ({ vm, ip: this.ips.get(vm.id!.toLowerCase()) ?? null }));
    } catch (error) {
      const classified = classifyAzureError(error, 'virtualMachineScaleSetVMs.list');
      if (classified.kind === 'not_found') return [];
      throw classified;
    }
  }

  /**
   * One scale set operation for every instance of the batch. One unknown id fails the whole
   * call (NotFound): a listing tells the unknown ones, answered missing, and the rest go again
   * together; should the listing fail or explain nothing, each is settled on its own.
   */
  private async settleEach(instanceIds: string[], operation: string, act: (instanceIds: string[]) => Promise<void>): Promise<Map<string, BatchResult<Outcome>>> {
    const results = new Map<string, BatchResult<Outcome>>();
    try {
      await act(instanceIds);
      for (const id of instanceIds) results.set(id, { ok: true, value: 'done' });
      return results;
    } catch (error) {
      const classified = classifyAzureError(error, operation);
      if (classified.kind !== 'not_found') {
        for (const id of instanceIds) results.set(id, { ok: false, error: classified });
        return results;
      }
      if (instanceIds.length === 1) return new Map([[instanceIds[0]!, { ok: true, value: 'missing' }]]);
    }
    const known = await this.scaleSet.vms().then((vms) => new Set(vms.map((vm) => vm.instanceId)), () => null);
    const present = known ? instanceIds.filter((id) => known.has(id)) : instanceIds;
    for (const id of instanceIds) if (!present.includes(id)) results.set(id, { ok: true, value: 'missing' });
    const again = present.length < instanceIds.length ? [present] : present.map((id) => [id]);
    for (const settled of await Promise.all(again.filter((ids) => ids.length > 0).map((ids) => this.settleEach(ids, operation, act)))) {
      for (const [id, r] of settled) results.set(id, r);
    }
    return results;
  }
}
