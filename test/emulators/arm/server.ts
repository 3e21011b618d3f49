// A local emulator of the Azure Resource Manager compute API, as much as sandfleet's azure
// adapter uses: uniform VM scale sets (get, create-or-update, update capacity, and power off,
// reimage or delete a list of instances), their VMs with instance view, and the scale
// set's NICs for private IPs. It speaks HTTPS with a test certificate, checks for a bearer
// token, runs mutations as long-running operations (Azure-AsyncOperation + Location), spends
// from Resource Manager's documented per-subscription budget (reads, writes, deletes; the
// remaining count on every answer, 429 with Retry-After when empty), and injects seeded faults: 429 with Retry-After, 5xx, allocation failures, and 409 when more
// operations run on one scale set than Azure allows, long-running operations that fail or never
// finish, VMs that die, and capacity changed behind the caller's back. It also serves App
// Service's managed identity endpoint, so a separate process (a daemon) authenticates through
// DefaultAzureCredential as it would on Azure.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Budget, type BucketLimit } from '../../../src/providers/budget.js';
import { ARM_BUDGET, armBucket, type ArmBudgetName } from '../../../src/providers/cloud-budgets.js';
import { prng } from '../../support/actors.js';
import type { TestCertificate } from './certificate.js';

export interface ArmFaults {
  /** Fraction of requests answered 429 with Retry-After. */
  throttleRate?: number;
  retryAfterS?: number;
  /** Fraction answered 500/503 (half before acting, half after: the response is lost). */
  serverErrorRate?: number;
  /** Fraction of capacity increases whose operation fails with AllocationFailed. */
  capacityRate?: number;
  /**
   * VMs the subscription may have alive at once (a quota): a capacity increase beyond it
   * allocates up to it and its operation fails AllocationFailed, the capacity left at what was allocated.
   */
  maxInstances?: number;
  /** The next this many capacity changes (PATCH of sku.capacity) act and then answer 500: the response is lost. */
  loseCapacityResponses?: number;
  /** Every request fails authentication. */
  authFailure?: boolean;
  /**
   * Fraction of long-running operations that end `Failed` with InternalExecutionError: half
   * before acting (nothing changes), half after (the change is made and still reported failed),
   * as Azure's internal errors strike at any step of an operation.
   */
  operationFailureRate?: number;
  /** While set, no long-running operation finishes: each stays InProgress; once cleared, those due complete. */
  operationsHang?: boolean;
  /** Answers that break Azure's contract: VMs in a power state Azure lacks, VMs without an id, listings whose next page link is the page itself. */
  malformed?: 'unknown-state' | 'missing-id' | 'endless-pages';
}

export interface ArmEmulatorOptions {
  certificate: TestCertificate;
  /** How long a long-running operation stays InProgress. */
  operationMs?: number;
  bootDelayMs?: number;
  /** Concurrent mutating operations a scale set accepts before answering 409. */
  maxConcurrentOperations?: number;
  /** The secret the managed identity endpoint (identityEndpoint) wants in X-IDENTITY-HEADER. */
  identitySecret?: string;
  seed?: number;
  faults?: ArmFaults;
  /** Each subscription's API budget: Resource Manager's documented defaults, with these overridden; `unlimited` spends nothing. */
  budget?: Partial<Record<ArmBudgetName, BucketLimit>> | 'unlimited';
}

interface Vm {
  instanceId: string;
  createdAt: number;
  /** Deallocated: a Spot VM evicted under evictionPolicy Deallocate (killInstances); it stays in the scale set, off. */
  power: 'starting' | 'running' | 'stopped' | 'deallocated' | 'deleting';
  powerAt: number;
  ip: string;
}

interface ScaleSet {
  name: string;
  resourceGroup: string;
  subscription: string;
  body: Record<string, unknown>;
  capacity: number;
  vms: Map<string, Vm>;
  nextInstance: number;
  running: number;
  /** Changes with every change to the model (capacity included), for If-Match. */
  etag: string;
}

interface Operation {
  id: string;
  doneAt: number;
  /** Applied once when the operation completes. */
  complete: () => void;
  error?: { code: string; message: string } | undefined;
  onFail?: (() => void) | undefined;
  completed: boolean;
  scaleSet: ScaleSet;
}

export interface RecordedArmCall {
  method: string;
  /** The request body, for the linked permission checks it implies (subnet join, image read). */
  body: unknown;
  /** The ARM operation, as in RBAC: Microsoft.Compute/virtualMachineScaleSets/write. */
  action: string;
  status: number;
  /** Answered 429 (the budget or injected throttling). */
  throttled: boolean;
  /** The budget's `x-ms-ratelimit-remaining-subscription-*` header as answered, if any. */
  remaining?: Record<string, string>;
}

const IDENTITY_PATH = '/msi/token';
const OPERATION = /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Compute\/locations\/[^/]+\/operations\/([^/]+)$/i;
const SCALE_SET = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachineScaleSets\/([^/]+)(\/.*)?$/i;

export type InjectedFault = 'throttled' | 'serverError' | 'allocationFailed' | 'operationFailed' | 'operationHung';

export class ArmEmulator {
  readonly calls: RecordedArmCall[] = [];
  /** How often each fault struck so far (operationHung: operations found due but held by operationsHang), for a chaos round's log line. */
  readonly injected: Record<InjectedFault, number> = { throttled: 0, serverError: 0, allocationFailed: 0, operationFailed: 0, operationHung: 0 };
  private readonly hung = new Set<string>();
  faults: ArmFaults;
  private readonly scaleSets = new Map<string, ScaleSet>();
  private readonly operations = new Map<string, Operation>();
  private readonly budgets = new Map<string, Budget<ArmBudgetName>>();
  private readonly server: https.Server;
  private random: () => number;
  private base = '';
  /** How long long-running operations stay in progress; adjustable while running. */
  operationMs: number;
  private ips = 1;

  constructor(private readonly options: ArmEmulatorOptions) {
    this.faults = { ...options.faults };
    this.operationMs = options.operationMs ?? 30;
    this.random = prng(options.seed ?? 3);
    this.server = https.createServer({ key: options.certificate.key, cert: options.certificate.cert }, (req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** App Service's managed identity endpoint (IDENTITY_ENDPOINT), with identitySecret as IDENTITY_HEADER. */
  get identityEndpoint(): string {
    return `${this.base}${IDENTITY_PATH}`;
  }

  get identitySecret(): string {
    return this.options.identitySecret ?? 'arm-emulator-identity';
  }

  reseed(seed: number): void {
    this.random = prng(seed);
  }

  /** Instances that exist and are not being deleted, as Azure itself sees them; `id` is the VM's resource id. */
  liveInstances(scaleSetName?: string): { scaleSet: string; resourceGroup: string; instanceId: string; id: string; power: string; createdAt: Date }[] {
    this.settle();
    return [...this.scaleSets.values()]
      .filter((s) => scaleSetName === undefined || s.name === scaleSetName)
      .flatMap((s) =>
        [...s.vms.values()]
          .filter((v) => v.power !== 'deleting')
          .map((v) => ({ scaleSet: s.name, resourceGroup: s.resourceGroup, instanceId: v.instanceId, id: this.vmIdOf(s, v), power: this.powerOf(v), createdAt: new Date(v.createdAt) })),
      );
  }

  /**
   * Up to `count` running VMs, chosen by the seeded prng, die as Azure ends them. Spot VMs are
   * evicted: with evictionPolicy Delete (sandfleet's) the VM is deleted and the capacity lowered;
   * with Deallocate it stays, PowerState/deallocated. A regular VM whose host fails is
   * service-healed: restarted on another host, same instance id, its work lost (PowerState
   * starting, then running after the boot delay). Answers the dead VMs' resource ids.
   */
  killInstances(count: number): string[] {
    this.settle();
    const running = [...this.scaleSets.values()].flatMap((s) => [...s.vms.values()].filter((v) => this.powerOf(v) === 'running').map((v) => ({ set: s, vm: v })));
    const victims = shuffled(running, this.random).slice(0, count);
    for (const { set, vm } of victims) {
      const eviction = evictionPolicyOf(set);
      if (eviction === 'Delete') {
        set.vms.delete(vm.instanceId);
        set.capacity--;
      } else {
        this.setPower(vm, eviction === 'Deallocate' ? 'deallocated' : 'starting');
      }
      set.etag = newEtag();
    }
    return victims.map(({ set, vm }) => this.vmIdOf(set, vm));
  }

  /**
   * Someone else (the portal, an autoscale rule) sets a scale set's sku.capacity directly, at
   * once: shrinking deletes the highest instance ids as Azure's scale-in does, growing adds VMs
   * nobody asked sandfleet for. The scale set is the seeded prng's pick among those of
   * `resourceGroup` (all if omitted); answers what changed, or null when there is none.
   */
  changeCapacity(delta: number, resourceGroup?: string): { scaleSet: string; from: number; to: number } | null {
    this.settle();
    const sets = [...this.scaleSets.values()].filter((s) => resourceGroup === undefined || s.resourceGroup.toLowerCase() === resourceGroup.toLowerCase());
    const set = shuffled(sets, this.random)[0];
    if (!set) return null;
    const from = set.capacity;
    set.capacity = Math.max(0, from + delta);
    set.etag = newEtag();
    this.materialize(set);
    return { scaleSet: set.name, from, to: set.capacity };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.base);
    const method = req.method ?? 'GET';
    let action = 'unknown';
    let remaining: Record<string, string> = {};
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const answered = { ...remaining, ...headers };
      const limits = Object.fromEntries(Object.entries(answered).filter(([name]) => name.startsWith('x-ms-ratelimit-')));
      this.calls.push({ method, action, status, throttled: status === 429, body: raw ? (JSON.parse(raw) as unknown) : undefined, remaining: limits });
      res.writeHead(status, { 'content-type': 'application/json', 'x-ms-request-id': randomBytes(8).toString('hex'), ...answered });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    try {
      this.settle();
      if (url.pathname === IDENTITY_PATH) {
        action = 'managed identity token';
        const [status, body] = this.identityToken(req, url);
        return send(status, body);
      }
      action = this.actionOf(method, url.pathname);
      if (!req.headers.authorization?.startsWith('Bearer ') || this.faults.authFailure) {
        throw new ArmFault(401, 'AuthenticationFailed', 'Authentication failed. The Authorization header is missing or invalid.');
      }
      if (!url.searchParams.get('api-version')) throw new ArmFault(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
      remaining = this.spendBudget(method, url.pathname);
      const f = this.faults;
      if (f.throttleRate && this.random() < f.throttleRate) {
        this.injected.throttled++;
        throw new ArmFault(429, 'TooManyRequests', 'The request is being throttled.', { 'retry-after': String(f.retryAfterS ?? 1) });
      }
      const strike = Boolean(f.serverErrorRate) && this.random() < (f.serverErrorRate ?? 0);
      if (strike) this.injected.serverError++;
      if (strike && this.random() < 0.5) throw new ArmFault(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
      const conditions = { ifMatch: header(req, 'if-match'), ifNoneMatch: header(req, 'if-none-match') };
      const [status, body, headers] = this.route(method, url, raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, conditions);
      if (strike || this.loseResponse(method, url.pathname)) throw new ArmFault(500, 'InternalServerError', 'An internal server error occurred.');
      send(status, body, headers);
    } catch (error) {
      if (error instanceof ArmFault) send(error.status, { error: { code: error.code, message: error.message } }, error.headers);
      else send(500, { error: { code: 'InternalServerError', message: String(error) } });
    }
  }

  /** loseCapacityResponses: a capacity change that has acted answers 500. */
  private loseResponse(method: string, path: string): boolean {
    const left = this.faults.loseCapacityResponses ?? 0;
    if (left <= 0 || method !== 'PATCH' || !SCALE_SET.test(path) || (SCALE_SET.exec(path)?.[4] ?? '') !== '') return false;
    this.faults.loseCapacityResponses = left - 1;
    return true;
  }

  /** App Service's token protocol: GET with X-IDENTITY-HEADER and ?resource=; the token is opaque (ARM here checks only that one is sent). */
  private identityToken(req: IncomingMessage, url: URL): [number, unknown] {
    if (header(req, 'x-identity-header') !== this.identitySecret) return [401, { error: { code: 'Unauthorized', message: 'X-IDENTITY-HEADER is missing or wrong.' } }];
    const resource = url.searchParams.get('resource') ?? 'https://management.azure.com';
    const expiresOn = Math.floor(Date.now() / 1000) + 3600;
    return [200, { access_token: `emulator-${randomBytes(8).toString('hex')}`, expires_on: expiresOn, resource, token_type: 'Bearer' }];
  }

  /** The budget of a subscription, for tests that squeeze or restore it while the emulator runs. */
  budgetOf(subscription: string): Budget<ArmBudgetName> | null {
    if (this.options.budget === 'unlimited') return null;
    let budget = this.budgets.get(subscription);
    if (!budget) this.budgets.set(subscription, (budget = new Budget<ArmBudgetName>({ ...ARM_BUDGET, ...this.options.budget })));
    return budget;
  }

  /** Answers throttled (429, Retry-After in whole seconds) or the remaining-count header of the request's class. */
  private spendBudget(method: string, path: string): Record<string, string> {
    const subscription = /^\/subscriptions\/([^/]+)/i.exec(path)?.[1];
    const budget = subscription ? this.budgetOf(subscription) : null;
    if (!budget) return {};
    const kind = armBucket(method);
    const header = `x-ms-ratelimit-remaining-subscription-${kind}`;
    const spent = budget.spend([[kind, 1]]);
    if (!spent.ok) throw new ArmFault(429, 'TooManyRequests', `The subscription's ${kind} are being throttled.`, { 'retry-after': String(Math.ceil(spent.retryAfterMs / 1000)), [header]: '0' });
    return { [header]: String(spent.remaining) };
  }

  /** The RBAC action a request needs, recorded for the role coverage test. */
  private actionOf(method: string, path: string): string {
    if (OPERATION.test(path)) return 'Microsoft.Compute/locations/operations/read';
    const m = SCALE_SET.exec(path);
    if (!m) return `unknown ${method} ${path}`;
    const rest = (m[4] ?? '').replace(/\/virtualMachines\/[^/]+/i, '/virtualMachines');
    const verbs: Record<string, string> = { GET: 'read', PUT: 'write', PATCH: 'write', DELETE: 'delete' };
    if (method === 'POST') return `Microsoft.Compute/virtualMachineScaleSets${rest}/action`;
    return `Microsoft.Compute/virtualMachineScaleSets${rest}/${verbs[method] ?? method}`;
  }

  private route(method: string, url: URL, body: Record<string, unknown>, conditions: Conditions): [number, unknown, Record<string, string>?] {
    const operation = OPERATION.exec(url.pathname);
    if (operation) return this.operationStatus(operation[1] ?? '');
    const m = SCALE_SET.exec(url.pathname);
    if (!m) throw new ArmFault(404, 'InvalidResourceType', `no route for ${method} ${url.pathname}`);
    const [, subscription, resourceGroup, name, rest = ''] = m as unknown as [string, string, string, string, string?];
    const key = `${subscription}/${resourceGroup}/${name}`.toLowerCase();
    const existing = this.scaleSets.get(key);
    if (rest === '' && (method === 'PUT' || method === 'PATCH')) checkConditions(existing, conditions);
    if (rest === '' && method === 'PUT') return this.createOrUpdate(key, subscription, resourceGroup, name, body);
    const set = existing;
    if (!set) throw new ArmFault(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${name}' under resource group '${resourceGroup}' was not found.`);
    if (rest === '' && method === 'GET') return [200, this.scaleSetJson(set)];
    if (rest === '' && method === 'PATCH') return this.updateCapacity(set, body);
    if (rest.toLowerCase() === '/delete' && method === 'POST') return this.deleteInstances(set, body);
    if (rest.toLowerCase() === '/poweroff' && method === 'POST') return this.actOnInstances(set, body, (vm) => this.setPower(vm, 'stopped'));
    if (rest.toLowerCase() === '/reimage' && method === 'POST') return this.actOnInstances(set, body, (vm) => this.setPower(vm, 'starting'));
    if (rest.toLowerCase() === '/virtualmachines' && method === 'GET') return [200, this.listing(url, [...set.vms.values()].map((v) => this.vmJson(set, v)))];
    if (rest.toLowerCase() === '/networkinterfaces' && method === 'GET') return [200, this.listing(url, [...set.vms.values()].map((v) => this.nicJson(set, v)))];
    const vm = /^\/virtualMachines\/([^/]+)(\/.*)?$/i.exec(rest);
    if (vm) {
      const instance = set.vms.get(vm[1] ?? '');
      if (!instance) throw new ArmFault(404, 'NotFound', `The entity was not found in this Azure location.`);
      if (!vm[2] && method === 'GET') return [200, this.vmJson(set, instance)];
    }
    throw new ArmFault(400, 'UnsupportedOperation', `${method} ${rest} is not emulated`);
  }

  private createOrUpdate(key: string, subscription: string, resourceGroup: string, name: string, body: Record<string, unknown>): [number, unknown, Record<string, string>] {
    const props = body.properties as Record<string, unknown> | undefined;
    if (props?.orchestrationMode !== 'Uniform') throw new ArmFault(400, 'InvalidParameter', 'sandfleet scale sets use orchestrationMode Uniform');
    if (props.overprovision !== false) throw new ArmFault(400, 'InvalidParameter', 'overprovision must be false: extra VMs would be mistaken for requested ones');
    const existing = this.scaleSets.get(key);
    const set: ScaleSet = existing ?? { name, resourceGroup, subscription, body, capacity: 0, vms: new Map(), nextInstance: 0, running: 0, etag: newEtag() };
    set.body = body;
    this.scaleSets.set(key, set);
    // The model changes now (a PUT with a lower capacity scales in); instances follow when the operation completes.
    set.capacity = Number((body.sku as { capacity?: number } | undefined)?.capacity ?? 0);
    set.etag = newEtag();
    const [, , headers] = this.lro(set, () => this.materialize(set));
    return [existing ? 200 : 201, this.scaleSetJson(set, 'Updating'), headers];
  }

  private updateCapacity(set: ScaleSet, body: Record<string, unknown>): [number, unknown, Record<string, string>] {
    const capacity = Number((body.sku as { capacity?: number } | undefined)?.capacity);
    if (!Number.isInteger(capacity) || capacity < 0) throw new ArmFault(400, 'InvalidParameter', 'sku.capacity must be a non-negative integer');
    const previous = set.capacity;
    const fail = capacity > previous && this.faults.capacityRate !== undefined && this.random() < this.faults.capacityRate;
    if (fail) this.injected.allocationFailed++;
    const room = (this.faults.maxInstances ?? Number.POSITIVE_INFINITY) - this.liveInstances().length;
    const partial = capacity > previous && capacity - previous > room;
    const allocationFailed = { code: 'AllocationFailed', message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.' };
    const [, , headers] = this.lro(
      set,
      () => this.materialize(set),
      fail || partial ? allocationFailed : undefined,
      // A failed allocation leaves the capacity where it was, or where the quota let it go.
      () => {
        set.capacity = partial ? previous + Math.max(0, room) : previous;
        if (partial) this.materialize(set);
        set.etag = newEtag();
      },
    );
    set.capacity = capacity;
    set.etag = newEtag();
    return [202, this.scaleSetJson(set, 'Updating'), headers];
  }

  private deleteInstances(set: ScaleSet, body: Record<string, unknown>): [number, unknown, Record<string, string>] {
    const ids = body.instanceIds;
    if (!Array.isArray(ids) || ids.length === 0) throw new ArmFault(400, 'InvalidParameter', 'instanceIds is required');
    const missing = ids.filter((id) => !set.vms.has(String(id)));
    if (missing.length) throw new ArmFault(404, 'NotFound', `Instance ids ${missing.join(', ')} were not found in scale set ${set.name}.`);
    const before = ids.map((id) => ({ ...set.vms.get(String(id))! }));
    const accepted = this.lro(
      set,
      () => {
        for (const id of ids) set.vms.delete(String(id));
      },
      undefined,
      // An operation failed before acting leaves the VMs as they were.
      () => {
        for (const vm of before) {
          const now = set.vms.get(vm.instanceId);
          if (now?.power !== 'deleting' || vm.power === 'deleting') continue;
          Object.assign(now, vm);
          set.capacity++;
        }
        set.etag = newEtag();
      },
    );
    for (const id of ids) {
      const vm = set.vms.get(String(id))!;
      if (vm.power !== 'deleting') set.capacity--;
      vm.power = 'deleting';
      vm.powerAt = Date.now();
    }
    set.etag = newEtag();
    return accepted;
  }

  /**
   * A scale set operation on a list of its instances (power off, reimage): `instanceIds` in the
   * body, none meaning every VM, as Azure has it; one unknown id refuses the whole call (404).
   * Each instance changes when the operation completes, unless it is being deleted by then.
   */
  private actOnInstances(set: ScaleSet, body: Record<string, unknown>, act: (vm: Vm) => void): [number, unknown, Record<string, string>] {
    const given = body.instanceIds;
    if (given !== undefined && !Array.isArray(given)) throw new ArmFault(400, 'InvalidParameter', 'instanceIds must be a list');
    const ids = given?.length ? given.map(String) : [...set.vms.keys()];
    const missing = ids.filter((id) => !set.vms.has(id));
    if (missing.length) throw new ArmFault(404, 'NotFound', `Instance ids ${missing.join(', ')} were not found in scale set ${set.name}.`);
    return this.lro(set, () => {
      for (const id of ids) {
        const vm = set.vms.get(id);
        if (vm && vm.power !== 'deleting') act(vm);
      }
    });
  }

  /** Starts a long-running operation on a scale set, within its concurrency limit. */
  private lro(set: ScaleSet, complete: () => void, error?: { code: string; message: string }, onFail?: () => void): [number, undefined, Record<string, string>] {
    if (set.running >= (this.options.maxConcurrentOperations ?? 4)) {
      throw new ArmFault(409, 'OperationNotAllowed', `Operation is not allowed because ${set.running} operations are in progress on scale set ${set.name}.`);
    }
    const id = randomBytes(12).toString('hex');
    set.running++;
    const failure = error ? { error, onFail } : this.injectedFailure(complete, onFail);
    this.operations.set(id, { id, doneAt: Date.now() + this.operationMs, complete, ...failure, completed: false, scaleSet: set });
    const location = String(set.body.location ?? 'westeurope');
    const status = `${this.base}/subscriptions/${set.subscription}/providers/Microsoft.Compute/locations/${location}/operations/${id}?api-version=2024-07-01`;
    return [202, undefined, { 'azure-asyncoperation': status, location: status, 'retry-after': '0' }];
  }

  /** operationFailureRate: InternalExecutionError, half before acting (onFail undoes the accepted change), half after (the change is made). */
  private injectedFailure(complete: () => void, onFail: (() => void) | undefined): Pick<Operation, 'error' | 'onFail'> {
    const rate = this.faults.operationFailureRate ?? 0;
    if (!(rate > 0 && this.random() < rate)) return {};
    const error = { code: 'InternalExecutionError', message: 'An internal execution error occurred. Please retry later.' };
    this.injected.operationFailed++;
    return this.random() < 0.5 ? { error, onFail: complete } : { error, onFail };
  }

  private operationStatus(id: string): [number, unknown] {
    const op = this.operations.get(id);
    if (!op) throw new ArmFault(404, 'NotFound', `operation ${id} not found`);
    if (!op.completed) {
      if (this.faults.operationsHang && op.doneAt <= Date.now() && !this.hung.has(id)) {
        this.hung.add(id);
        this.injected.operationHung++;
      }
      return [200, { name: id, status: 'InProgress' }];
    }
    return op.error ? [200, { name: id, status: 'Failed', error: op.error }] : [200, { name: id, status: 'Succeeded' }];
  }

  /** Completes operations whose time has come (none while operationsHang); the clock drives all state. */
  private settle(): void {
    if (this.faults.operationsHang) return;
    const now = Date.now();
    for (const op of this.operations.values()) {
      if (op.completed || op.doneAt > now) continue;
      op.completed = true;
      op.scaleSet.running--;
      if (op.error) op.onFail?.();
      else op.complete();
    }
  }

  /** Brings the instances in line with the model's capacity: adds, or scales in the highest ids. */
  private materialize(set: ScaleSet): void {
    const live = [...set.vms.values()].filter((v) => v.power !== 'deleting');
    for (let n = live.length; n < set.capacity; n++) {
      const instanceId = String(set.nextInstance++);
      const now = Date.now();
      set.vms.set(instanceId, { instanceId, createdAt: now, power: 'starting', powerAt: now, ip: `10.1.${Math.floor(this.ips / 250)}.${(this.ips++ % 250) + 1}` });
    }
    for (const vm of live.sort((a, b) => Number(b.instanceId) - Number(a.instanceId)).slice(0, Math.max(0, live.length - set.capacity))) set.vms.delete(vm.instanceId);
  }

  private setPower(vm: Vm, power: Vm['power']): void {
    vm.power = power;
    vm.powerAt = Date.now();
  }

  private powerOf(vm: Vm): string {
    if (vm.power === 'starting') return Date.now() - vm.powerAt >= (this.options.bootDelayMs ?? 30) ? 'running' : 'starting';
    return vm.power;
  }

  private scaleSetJson(set: ScaleSet, provisioningState = 'Succeeded'): unknown {
    return { ...set.body, id: this.idOf(set), etag: set.etag, name: set.name, type: 'Microsoft.Compute/virtualMachineScaleSets', sku: { ...(set.body.sku as object), capacity: set.capacity }, properties: { ...(set.body.properties as object), provisioningState } };
  }

  private vmJson(set: ScaleSet, vm: Vm): unknown {
    const power = this.powerOf(vm);
    const provisioning = vm.power === 'deleting' ? 'Deleting' : power === 'starting' ? 'Creating' : 'Succeeded';
    const malformed = this.faults.malformed;
    return {
      id: malformed === 'missing-id' ? undefined : this.vmIdOf(set, vm),
      instanceId: vm.instanceId,
      name: `${set.name}_${vm.instanceId}`,
      type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
      location: (set.body.location as string | undefined) ?? 'westeurope',
      tags: set.body.tags,
      properties: {
        provisioningState: provisioning,
        timeCreated: new Date(vm.createdAt).toISOString(),
        osProfile: { computerName: `${set.name}${vm.instanceId.padStart(6, '0')}` },
        instanceView: {
          statuses: [
            { code: `ProvisioningState/${provisioning.toLowerCase()}`, level: 'Info' },
            { code: `PowerState/${malformed === 'unknown-state' ? 'hibernated' : power}`, level: 'Info' },
          ],
        },
      },
    };
  }

  /** One page holding everything; under the endless-pages fault its next link is the page itself. */
  private listing(url: URL, value: unknown[]): { value: unknown[]; nextLink?: string } {
    return this.faults.malformed === 'endless-pages' ? { value, nextLink: url.href } : { value };
  }

  private nicJson(set: ScaleSet, vm: Vm): unknown {
    return {
      id: `${this.vmIdOf(set, vm)}/networkInterfaces/nic`,
      name: 'nic',
      properties: {
        virtualMachine: { id: this.vmIdOf(set, vm) },
        ipConfigurations: [{ name: 'ipconfig', properties: { privateIPAddress: vm.ip, primary: true } }],
      },
    };
  }

  private idOf(set: ScaleSet): string {
    return `/subscriptions/${set.subscription}/resourceGroups/${set.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${set.name}`;
  }

  private vmIdOf(set: ScaleSet, vm: Vm): string {
    return `${this.idOf(set)}/virtualMachines/${vm.instanceId}`;
  }
}

/** A Spot scale set's eviction policy (Azure's default is Deallocate); null for regular VMs, which are never evicted. */
function evictionPolicyOf(set: ScaleSet): 'Delete' | 'Deallocate' | null {
  const profile = (set.body.properties as { virtualMachineProfile?: { priority?: string; evictionPolicy?: string } } | undefined)?.virtualMachineProfile;
  if (profile?.priority !== 'Spot') return null;
  return profile.evictionPolicy === 'Delete' ? 'Delete' : 'Deallocate';
}

/** A seeded Fisher-Yates shuffle (a copy), so a run's picks replay with its seed. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

class ArmFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Conditions {
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
}

/** ARM's optimistic concurrency: If-Match an etag, or If-None-Match * to create only. */
function checkConditions(set: ScaleSet | undefined, c: Conditions): void {
  if (c.ifNoneMatch === '*' && set) throw new ArmFault(412, 'PreconditionFailed', 'The resource already exists (If-None-Match: *).');
  if (c.ifMatch && (!set || (c.ifMatch !== '*' && c.ifMatch !== set.etag))) {
    throw new ArmFault(412, 'PreconditionFailed', 'The ETag in If-Match does not match the resource: it changed since it was read.');
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function newEtag(): string {
  return `"${randomBytes(6).toString('hex')}"`;
}
