// One pool's scale set, as Azure calls go: create it once, grow its capacity conditionally on
// its ETag, list its VMs with their instance view and its NICs' addresses, and power off, reimage
// or delete a list of its instances in one scale set operation. Long-running operations share
// one semaphore: Azure pre-empts scale set operations beyond a few at a time.
import { createRestError } from '@azure-rest/core-client';
import type { VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { malformed } from '../errors.js';
import { Semaphore } from '../semaphore.js';
import type { ArmClients } from './arm-clients.js';
import { classifyAzureError } from './errors.js';
import { checkedVm } from './instances.js';
import { scaleSetModel } from './scale-set-model.js';
import type { AzureSettings } from './settings.js';

const NETWORK_API_VERSION = '2018-10-01';
/** Grows retried after another writer changed the scale set under us. */
const MAX_GROW_ATTEMPTS = 10;

interface NicListing {
  nextLink?: string | null;
  value?: { properties?: { virtualMachine?: { id?: string }; ipConfigurations?: { properties?: { privateIPAddress?: string } }[] } }[];
}

export class ScaleSet {
  private readonly operations: Semaphore;
  private ensured: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly settings: AzureSettings,
    private readonly owner: { cluster: string; pool: string },
    private readonly clients: () => Promise<ArmClients>,
  ) {
    this.operations = new Semaphore(settings.maxConcurrentOperations);
  }

  /** Creates the scale set, empty, if it does not exist. */
  ensure(): Promise<void> {
    this.ensured ??= this.create().catch((error: unknown) => {
      this.ensured = undefined;
      throw error;
    });
    return this.ensured;
  }

  /**
   * Raises capacity by `by`, conditional on the ETag read with the current capacity: capacity is
   * absolute, so a write computed from a stale read (another daemon grew, or deleted instances
   * meanwhile) could shrink the scale set, and Azure scales in by deleting VMs. A changed ETag
   * answers 412; read again and retry.
   */
  async grow(by: number): Promise<void> {
    const { compute } = await this.clients();
    let first: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const current = await compute.virtualMachineScaleSets.get(this.settings.resourceGroup, this.name, this.readOptions());
      const capacity = current.sku?.capacity ?? 0;
      // After a 412 the capacity moved: maybe our own write, whose response was lost (its retry
      // then carried a stale ETag), maybe another daemon. Growing again could overshoot; the
      // hand-out lists the free instances, and a shortfall is simply retried.
      if (first !== undefined && capacity !== first) return;
      first ??= capacity;
      try {
        await this.operations.run(() =>
          compute.virtualMachineScaleSets.update(
            this.settings.resourceGroup,
            this.name,
            { sku: { ...current.sku, capacity: capacity + by } },
            { ...this.lroOptions(), ...(current.etag ? { ifMatch: current.etag } : {}) },
          ),
        );
        return;
      } catch (error) {
        if (!isPreconditionFailed(error) || attempt >= MAX_GROW_ATTEMPTS) throw error;
      }
    }
  }

  /** Every VM with its instance view: one paged listing. */
  async vms(): Promise<VirtualMachineScaleSetVM[]> {
    const { compute } = await this.clients();
    const out: VirtualMachineScaleSetVM[] = [];
    const pages = new PageLinks('virtualMachineScaleSetVMs.list');
    for await (const page of compute.virtualMachineScaleSetVMs.list(this.settings.resourceGroup, this.name, { expand: 'instanceView', ...this.readOptions() }).byPage()) {
      out.push(...page.map(checkedVm));
      pages.follow(page.continuationToken);
    }
    return out;
  }

  /** Private IPs by instance resource id (lower case), from one paged listing of the scale set's NICs: the instance view has none. */
  async privateIps(): Promise<Map<string, string>> {
    const { rest } = await this.clients();
    const ips = new Map<string, string>();
    const pages = new PageLinks('networkInterfaces.list');
    let response = await rest
      .pathUnchecked('/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}/networkInterfaces', this.settings.subscriptionId, this.settings.resourceGroup, this.name)
      .get({ queryParameters: { 'api-version': NETWORK_API_VERSION }, ...this.readOptions() });
    for (;;) {
      if (!/^2\d\d$/.test(response.status)) throw createRestError(response);
      const body = response.body as NicListing;
      for (const nic of body.value ?? []) {
        const vm = nic.properties?.virtualMachine?.id;
        const ip = nic.properties?.ipConfigurations?.[0]?.properties?.privateIPAddress;
        if (vm && ip) ips.set(vm.toLowerCase(), ip);
      }
      if (!pages.follow(body.nextLink ?? undefined)) return ips;
      response = await rest.pathUnchecked(body.nextLink!).get(this.readOptions());
    }
  }

  /** Powers off these instances (not their deallocation): one scale set operation for all of them. */
  async powerOff(instanceIds: string[]): Promise<void> {
    const { compute } = await this.clients();
    await this.operations.run(() =>
      compute.virtualMachineScaleSets.powerOff(this.settings.resourceGroup, this.name, { vmInstanceIDs: { instanceIds: some(instanceIds) }, skipShutdown: true, ...this.lroOptions() }),
    );
  }

  /** Reimages these instances: one scale set operation for all of them. */
  async reimage(instanceIds: string[]): Promise<void> {
    const { compute } = await this.clients();
    await this.operations.run(() => compute.virtualMachineScaleSets.reimage(this.settings.resourceGroup, this.name, { vmScaleSetReimageInput: { instanceIds: some(instanceIds) }, ...this.lroOptions() }));
  }

  async deleteInstances(instanceIds: string[]): Promise<void> {
    const { compute } = await this.clients();
    await this.operations.run(() =>
      compute.virtualMachineScaleSets.deleteInstances(this.settings.resourceGroup, this.name, { instanceIds: some(instanceIds) }, { forceDeletion: this.settings.forceDeletion, ...this.lroOptions() }),
    );
  }

  private async create(): Promise<void> {
    const { compute } = await this.clients();
    try {
      await compute.virtualMachineScaleSets.get(this.settings.resourceGroup, this.name, this.readOptions());
      return;
    } catch (error) {
      if (classifyAzureError(error, 'virtualMachineScaleSets.get').kind !== 'not_found') throw error;
    }
    // Create only: a retried or concurrent PUT must never reset an existing scale set to capacity 0.
    try {
      const model = scaleSetModel(this.settings, { scaleSet: this.name, ...this.owner });
      await this.operations.run(() => compute.virtualMachineScaleSets.createOrUpdate(this.settings.resourceGroup, this.name, model, { ...this.lroOptions(), ifNoneMatch: '*' }));
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }

  /** A read gives up at an explicit deadline: the SDK would wait on a silent connection forever. */
  private readOptions() {
    return { abortSignal: AbortSignal.timeout(this.settings.readTimeoutS * 1000) };
  }

  /** Long-running operations poll at the configured pace and give up at an explicit deadline. */
  private lroOptions() {
    return { updateIntervalInMs: this.settings.pollIntervalMs, abortSignal: AbortSignal.timeout(this.settings.operationTimeoutS * 1000) };
  }
}

/**
 * The instance ids of a scale set operation, never none: Azure acts on every VM of the scale set
 * when a power off, reimage or delete names no instance.
 */
function some(instanceIds: string[]): string[] {
  if (instanceIds.length === 0) throw new Error('a scale set operation must name its instances: none would act on all of them');
  return instanceIds;
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: string } | null;
  return e?.statusCode === 412 || e?.code === 'PreconditionFailed';
}

/** The next-page links of one listing: a link answered a second time would page forever, and is refused. */
class PageLinks {
  private readonly seen = new Set<string>();

  constructor(private readonly operation: string) {}

  /** Whether there is a next page to read. */
  follow(link: string | undefined): boolean {
    if (link === undefined) return false;
    if (this.seen.has(link)) throw malformed(`azure ${this.operation} answered next page link ${link} a second time`, { operation: this.operation });
    this.seen.add(link);
    return true;
  }
}
