// The azure adapter: one pool = one uniform VM scale set in a resource group, driven through
// @azure/arm-compute. A create grows the scale set's capacity and hands each requesting machine
// one new instance, deterministically (lowest machine id gets the lowest free instance id);
// instances no row holds yet are adopted before anything grows, so a create repeated after a
// crash finds its instance by listing instead of growing again.
import { createRestError, getClient, type Client } from '@azure-rest/core-client';
import { ComputeManagementClient, type VirtualMachineScaleSet, type VirtualMachineScaleSetVM } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import { BATCH_WINDOW_MS, Batcher, type BatchResult } from '../batcher.js';
import { capacity, fatal, isProviderError } from '../errors.js';
import { Semaphore } from '../semaphore.js';
import { invalidSettings } from '../settings-error.js';
import { TAG, type AdoptionLedger, type CreateRequest, type Instance, type InstanceState, type LookupOptions, type Provider } from '../types.js';
import { LaunchLedger } from '../visibility.js';
import { classifyAzureError } from './errors.js';
import { azureSettingsSchema, type AzureSettings } from './settings.js';

export interface VmssProviderOptions {
  cluster: string;
  pool: string;
  settings: unknown;
  /** Which instances rows already hold: the database, in the daemon. */
  adoption: AdoptionLedger;
  /** Defaults to DefaultAzureCredential (environment, workload identity, managed identity, CLI). */
  credential?: TokenCredential;
  /** Extra trust for emulators with a test certificate; never needed against Azure. */
  tlsOptions?: TlsSettings;
}

const ARM_SCOPE = 'https://management.azure.com/.default';
const NETWORK_API_VERSION = '2018-10-01';
const NOT_FOUND_CODE = 'NotFound';
/** Grows retried after another writer changed the scale set under us. */
const MAX_GROW_ATTEMPTS = 10;

export class VmssProvider implements Provider {
  readonly kind = 'azure';
  // Uniform scale set instances share the model's custom data: none of their own.
  readonly capabilities = { reimage: true, stopWithoutDelete: true, spot: true, perInstanceUserData: false };
  private readonly settings: AzureSettings;
  private readonly scaleSet: string;
  private readonly ledger: LaunchLedger;
  /** Azure pre-empts scale set operations beyond a few at once. */
  private readonly operations: Semaphore;
  /** Grows and hand-outs happen one batch at a time, so two batches never hand out one instance. */
  private readonly handOut = new Semaphore(1);
  /** Instances handed to a machine whose row may not record them yet. */
  private readonly handedOut = new Map<string, string>();
  private readonly creator = new Batcher<string, Instance>((ids) => this.createBatch(ids), { maxBatch: 100, windowMs: BATCH_WINDOW_MS });
  private readonly deleter = new Batcher<string, 'done' | 'missing'>((ids) => this.deleteBatch(ids), { maxBatch: 100, windowMs: BATCH_WINDOW_MS });
  private clients: Promise<{ compute: ComputeManagementClient; rest: Client }> | undefined;
  private ensured: Promise<void> | undefined;

  constructor(private readonly options: VmssProviderOptions) {
    const parsed = azureSettingsSchema.safeParse(options.settings);
    if (!parsed.success) throw invalidSettings(options.pool, parsed.error.issues);
    this.settings = parsed.data;
    this.scaleSet = this.settings.scaleSetName ?? `sf-${options.cluster}-${options.pool}`.slice(0, 63);
    this.ledger = new LaunchLedger(this.settings.notFoundGraceS * 1000);
    this.operations = new Semaphore(this.settings.maxConcurrentOperations);
  }

  create(request: CreateRequest): Promise<Instance> {
    return this.creator.call(request.machineId);
  }

  async get(providerId: string, options: LookupOptions = {}): Promise<Instance> {
    const instanceId = this.instanceIdOf(providerId);
    const { compute } = await this.client();
    try {
      const vm = await compute.virtualMachineScaleSetVMs.get(this.settings.resourceGroup, this.scaleSet, instanceId, { expand: 'instanceView' });
      const ips = await this.privateIps();
      this.ledger.recordSeen(providerId);
      return this.toInstance(vm, ips);
    } catch (error) {
      throw this.classifyMissing(error, providerId, options, 'virtualMachineScaleSetVMs.get');
    }
  }

  async list(): Promise<Instance[]> {
    try {
      const [vms, ips] = await Promise.all([this.listVms(), this.privateIps()]);
      return vms.map((vm) => this.toInstance(vm, ips));
    } catch (error) {
      const classified = classifyAzureError(error, 'virtualMachineScaleSetVMs.list');
      // No scale set yet means no instances yet.
      if (classified.kind === 'not_found') return [];
      throw classified;
    }
  }

  async stop(providerId: string, options: LookupOptions = {}): Promise<void> {
    const instanceId = this.instanceIdOf(providerId);
    const { compute } = await this.client();
    try {
      await this.operations.run(() =>
        compute.virtualMachineScaleSetVMs.powerOff(this.settings.resourceGroup, this.scaleSet, instanceId, { skipShutdown: true, ...this.lroOptions() }),
      );
    } catch (error) {
      throw this.classifyMissing(error, providerId, options, 'virtualMachineScaleSetVMs.powerOff');
    }
  }

  async delete(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.deleter.call(this.instanceIdOf(providerId))) === 'done') {
      this.ledger.recordDeleted(providerId);
      this.handedOut.delete(providerId);
      return;
    }
    const gone = this.ledger.missing(providerId, options, 'virtualMachineScaleSets.deleteInstances', NOT_FOUND_CODE);
    if (gone.kind !== 'not_found') throw gone;
  }

  async reimage(providerId: string): Promise<void> {
    const instanceId = this.instanceIdOf(providerId);
    const { compute } = await this.client();
    try {
      await this.operations.run(() => compute.virtualMachineScaleSetVMs.reimage(this.settings.resourceGroup, this.scaleSet, instanceId, this.lroOptions()));
    } catch (error) {
      throw this.classifyMissing(error, providerId, {}, 'virtualMachineScaleSetVMs.reimage');
    }
  }

  /** One grow for the whole batch, then one free instance per machine in a fixed order. */
  private createBatch(machineIds: string[]): Promise<Map<string, BatchResult<Instance>>> {
    return this.handOut.run(async () => {
      const results = new Map<string, BatchResult<Instance>>();
      try {
        await this.ensureScaleSet();
        const adopted = await this.options.adoption.adopted();
        for (const id of adopted) this.handedOut.delete(id);
        let vms = await this.listVms();
        const waiting: string[] = [];
        for (const machineId of [...machineIds].sort()) {
          const known = (await this.options.adoption.providerIdOf(machineId)) ?? this.handedOutTo(machineId);
          const vm = known ? vms.find((v) => v.id === known) : undefined;
          if (vm) results.set(machineId, { ok: true, value: this.toInstance(vm, new Map()) });
          else waiting.push(machineId);
        }
        let free = this.freeInstances(vms, adopted);
        if (free.length < waiting.length) {
          await this.grow(waiting.length - free.length);
          vms = await this.listVms();
          free = this.freeInstances(vms, adopted);
        }
        waiting.forEach((machineId, i) => {
          const vm = free[i];
          if (!vm?.id) {
            results.set(machineId, { ok: false, error: capacity(`scale set ${this.scaleSet} did not grow enough for machine ${machineId}`, { operation: 'virtualMachineScaleSets.update' }) });
            return;
          }
          // A machine holds one hand-out: an earlier one it lost to another daemon is released.
          const earlier = this.handedOutTo(machineId);
          if (earlier) this.handedOut.delete(earlier);
          this.handedOut.set(vm.id, machineId);
          // Handed out from a listing: Azure has shown it, so a later NotFound means gone.
          this.ledger.recordSeen(vm.id);
          results.set(machineId, { ok: true, value: this.toInstance(vm, new Map()) });
        });
      } catch (error) {
        const classified = classifyAzureError(error, 'create');
        for (const id of machineIds) if (!results.has(id)) results.set(id, { ok: false, error: classified });
      }
      return results;
    });
  }

  /** Instances nobody holds, oldest (lowest instance id) first. */
  private freeInstances(vms: VirtualMachineScaleSetVM[], adopted: ReadonlySet<string>): VirtualMachineScaleSetVM[] {
    return vms
      .filter((v) => v.id && !adopted.has(v.id) && !this.handedOut.has(v.id) && v.provisioningState?.toLowerCase() !== 'deleting')
      .sort((a, b) => Number(a.instanceId) - Number(b.instanceId));
  }

  private handedOutTo(machineId: string): string | null {
    for (const [providerId, holder] of this.handedOut) if (holder === machineId) return providerId;
    return null;
  }

  /**
   * Raises capacity by `by`, conditional on the ETag read with the current capacity: capacity is
   * absolute, so a write computed from a stale read (another daemon grew, or deleted instances
   * meanwhile) could shrink the scale set, and Azure scales in by deleting VMs. A changed ETag
   * answers 412; read again and retry.
   */
  private async grow(by: number): Promise<void> {
    const { compute } = await this.client();
    let first: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const current = await compute.virtualMachineScaleSets.get(this.settings.resourceGroup, this.scaleSet);
      const capacity = current.sku?.capacity ?? 0;
      // After a 412 the capacity moved: maybe our own write, whose response was lost (its retry
      // then carried a stale ETag), maybe another daemon. Growing again could overshoot; the
      // hand-out lists the free instances, and a shortfall is simply retried.
      if (first !== undefined && capacity !== first) return;
      first ??= capacity;
      const target = capacity + by;
      try {
        await this.operations.run(() =>
          compute.virtualMachineScaleSets.update(
            this.settings.resourceGroup,
            this.scaleSet,
            { sku: { ...current.sku, capacity: target } },
            { ...this.lroOptions(), ...(current.etag ? { ifMatch: current.etag } : {}) },
          ),
        );
        return;
      } catch (error) {
        if (!isPreconditionFailed(error) || attempt >= MAX_GROW_ATTEMPTS) throw error;
      }
    }
  }

  private async deleteBatch(instanceIds: string[]): Promise<Map<string, BatchResult<'done' | 'missing'>>> {
    const results = new Map<string, BatchResult<'done' | 'missing'>>();
    const { compute } = await this.client();
    const deleteSome = (ids: string[]) =>
      this.operations.run(() =>
        compute.virtualMachineScaleSets.deleteInstances(this.settings.resourceGroup, this.scaleSet, { instanceIds: ids }, { forceDeletion: this.settings.forceDeletion, ...this.lroOptions() }),
      );
    try {
      await deleteSome(instanceIds);
      for (const id of instanceIds) results.set(id, { ok: true, value: 'done' });
    } catch (error) {
      const classified = classifyAzureError(error, 'virtualMachineScaleSets.deleteInstances');
      if (classified.kind !== 'not_found') {
        for (const id of instanceIds) results.set(id, { ok: false, error: classified });
      } else if (instanceIds.length === 1) {
        results.set(instanceIds[0]!, { ok: true, value: 'missing' });
      } else {
        // One unknown id fails the whole call: settle each on its own.
        for (const [id, r] of await Promise.all(instanceIds.map(async (id) => [id, await this.deleteBatch([id])] as const))) results.set(id, r.get(id)!);
      }
    }
    return results;
  }

  /** Creates the scale set, empty, if it does not exist. */
  private ensureScaleSet(): Promise<void> {
    this.ensured ??= (async () => {
      const { compute } = await this.client();
      try {
        await compute.virtualMachineScaleSets.get(this.settings.resourceGroup, this.scaleSet);
        return;
      } catch (error) {
        if (classifyAzureError(error, 'virtualMachineScaleSets.get').kind !== 'not_found') throw error;
      }
      // Create only: a retried or concurrent PUT must never reset an existing scale set to capacity 0.
      try {
        await this.operations.run(() =>
          compute.virtualMachineScaleSets.createOrUpdate(this.settings.resourceGroup, this.scaleSet, this.scaleSetModel(), { ...this.lroOptions(), ifNoneMatch: '*' }),
        );
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
      }
    })().catch((error: unknown) => {
      this.ensured = undefined;
      throw error;
    });
    return this.ensured;
  }

  private scaleSetModel(): VirtualMachineScaleSet {
    const s = this.settings;
    const image = 'galleryImageVersionId' in s.image ? { id: s.image.galleryImageVersionId } : s.image;
    const password = s.adminPasswordEnv ? process.env[s.adminPasswordEnv] : undefined;
    if (s.adminPasswordEnv && !password) throw fatal(`environment variable ${s.adminPasswordEnv} (pools.${this.options.pool}.settings.adminPasswordEnv) is not set`);
    return {
      location: s.location,
      tags: { [TAG.cluster]: this.options.cluster, [TAG.pool]: this.options.pool },
      sku: { name: s.vmSize, tier: 'Standard', capacity: 0 },
      orchestrationMode: 'Uniform',
      // Overprovisioned extras would look like free instances and be handed out.
      overprovision: false,
      singlePlacementGroup: false,
      upgradePolicy: { mode: 'Manual' },
      virtualMachineProfile: {
        ...(s.spot ? { priority: 'Spot', evictionPolicy: 'Delete', billingProfile: { maxPrice: s.spot.maxPrice } } : {}),
        storageProfile: {
          imageReference: image,
          osDisk: {
            createOption: 'FromImage',
            caching: 'ReadOnly',
            ...(s.ephemeralOsDisk ? { diffDiskSettings: { option: 'Local' } } : { managedDisk: { storageAccountType: 'StandardSSD_LRS' } }),
          },
        },
        osProfile: {
          computerNamePrefix: this.scaleSet.replace(/[^a-zA-Z0-9-]/g, '').slice(0, 9),
          adminUsername: s.adminUsername,
          ...(password ? { adminPassword: password } : {}),
          ...(s.sshPublicKey
            ? { linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: `/home/${s.adminUsername}/.ssh/authorized_keys`, keyData: s.sshPublicKey }] } } }
            : {}),
        },
        networkProfile: {
          networkInterfaceConfigurations: [{ name: 'nic', primary: true, ipConfigurations: [{ name: 'ipconfig', subnet: { id: s.subnetId } }] }],
        },
      },
    };
  }

  private async listVms(): Promise<VirtualMachineScaleSetVM[]> {
    const { compute } = await this.client();
    const out: VirtualMachineScaleSetVM[] = [];
    for await (const vm of compute.virtualMachineScaleSetVMs.list(this.settings.resourceGroup, this.scaleSet, { expand: 'instanceView' })) out.push(vm);
    return out;
  }

  /** Private IPs by instance resource id, from the scale set's NICs (the instance view has none). */
  private async privateIps(): Promise<Map<string, string>> {
    const { rest } = await this.client();
    const response = await rest
      .pathUnchecked('/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/{scaleSet}/networkInterfaces', this.settings.subscriptionId, this.settings.resourceGroup, this.scaleSet)
      .get({ queryParameters: { 'api-version': NETWORK_API_VERSION } });
    if (!/^2\d\d$/.test(response.status)) throw createRestError(response);
    const body = response.body as { value?: { properties?: { virtualMachine?: { id?: string }; ipConfigurations?: { properties?: { privateIPAddress?: string } }[] } }[] };
    const ips = new Map<string, string>();
    for (const nic of body.value ?? []) {
      const vm = nic.properties?.virtualMachine?.id;
      const ip = nic.properties?.ipConfigurations?.[0]?.properties?.privateIPAddress;
      if (vm && ip) ips.set(vm.toLowerCase(), ip);
    }
    return ips;
  }

  private toInstance(vm: VirtualMachineScaleSetVM, ips: Map<string, string>): Instance {
    const providerId = vm.id ?? '';
    return {
      providerId,
      state: stateOf(vm),
      ip: ips.get(providerId.toLowerCase()) ?? null,
      machineId: this.handedOut.get(providerId) ?? null,
      launchedAt: vm.timeCreated ?? null,
    };
  }

  private instanceIdOf(providerId: string): string {
    const m = /\/virtualMachineScaleSets\/([^/]+)\/virtualMachines\/([^/]+)$/i.exec(providerId);
    if (!m || m[1]?.toLowerCase() !== this.scaleSet.toLowerCase()) {
      throw fatal(`provider id ${providerId} is not an instance of scale set ${this.scaleSet}`, { code: 'InvalidProviderId' });
    }
    return m[2]!;
  }

  private classifyMissing(error: unknown, providerId: string, options: LookupOptions, operation: string) {
    const classified = classifyAzureError(error, operation);
    return isProviderError(classified, 'not_found') ? this.ledger.missing(providerId, options, operation, NOT_FOUND_CODE) : classified;
  }

  /** Long-running operations poll at the configured pace and give up at an explicit deadline. */
  private lroOptions() {
    return { updateIntervalInMs: this.settings.pollIntervalMs, abortSignal: AbortSignal.timeout(this.settings.operationTimeoutS * 1000) };
  }

  private client(): Promise<{ compute: ComputeManagementClient; rest: Client }> {
    this.clients ??= (async () => {
      const credential = this.options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
      const common = {
        ...(this.settings.endpoint ? { endpoint: this.settings.endpoint } : {}),
        ...(this.options.tlsOptions ? { tlsOptions: this.options.tlsOptions } : {}),
        retryOptions: { maxRetries: this.settings.maxRetries },
      };
      return {
        compute: new ComputeManagementClient(credential, this.settings.subscriptionId, common),
        rest: getClient(this.settings.endpoint ?? 'https://management.azure.com', credential, { ...common, credentials: { scopes: [ARM_SCOPE] } }),
      };
    })();
    return this.clients;
  }
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: string } | null;
  return e?.statusCode === 412 || e?.code === 'PreconditionFailed';
}

function stateOf(vm: VirtualMachineScaleSetVM): InstanceState {
  if (vm.provisioningState?.toLowerCase() === 'deleting') return 'terminating';
  const power = vm.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.split('/')[1];
  switch (power) {
    case 'running':
      return 'running';
    case 'stopping':
    case 'deallocating':
      return 'stopping';
    case 'stopped':
    case 'deallocated':
      return 'stopped';
    default:
      return 'pending';
  }
}

